"""「ダウンロードパスワードを忘れた」 on the dev server (``certdesk up``, the real Temporal dev server, its
worker, SMTP sink and database): the right answer gives a new password that downloads while the
old one is refused; wrong answers lock the reset, which support unlocks from the task API."""

import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.stack import Stack, cli_json, stack_env

STAFF_PASSWORD = "forgot staff passphrase"


def _wait(what: str, found, seconds: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"no {what} within {seconds}s")


def test_forgotten_download_password_on_the_dev_server(tmp_path: Path) -> None:
    env = stack_env(tmp_path / "var")
    stack = Stack(env, tmp_path / "up.log")
    stack.start()
    try:
        tenant = {"authorization": f"Bearer {cli_json(env, 'tenant', 'create', '忘却試験サイト')['api_key']}"}
        cli_json(env, "staff", "create", "sato", "--role", "support", "--password", STAFF_PASSWORD)
        base = stack.base

        def mail(subject: str) -> dict[str, object] | None:
            found = [m for m in httpx.get(f"{base}/dev/mailbox/messages", timeout=10).json()
                     if m["subject"] == subject]
            return found[0] if found else None

        invited = httpx.post(f"{base}/api/v1/enrollments", headers=tenant, timeout=30, json={
            "user_id": "u-77", "email": "u-77@example.jp", "name": "忘却 太郎"}).json()
        token = invited["enrollment_url"].rstrip("/").rsplit("/", 1)[1]
        with httpx.Client(base_url=base, timeout=30) as browser:
            assert browser.post(f"/api/v1/enroll/{token}/otp",
                                json={"one_time_password": invited["one_time_password"]}).status_code == 200
            old = browser.post(f"/api/v1/enroll/{token}/secret",
                               json={"question_id": "first_pet", "answer": "Pochi"}).json()["download_password"]
        guide = _wait("download mail", lambda: mail("電子証明書ダウンロードのご案内"))
        download = str(guide["body"]).split("/download/", 1)[1].split()[0]

        reset = f"{base}/api/v1/downloads/{download}/password-reset"
        for left in (4, 3, 2, 1):
            wrong = httpx.post(reset, json={"answer": "Tama"}, timeout=30)
            assert (wrong.status_code, wrong.json()["attempts_left"]) == (400, left)
        assert httpx.post(reset, json={"answer": "Tama"}, timeout=30).status_code == 423
        assert httpx.post(reset, json={"answer": "Pochi"}, timeout=30).status_code == 423  # locked, right or not

        staff = {"authorization": "Bearer " + httpx.post(f"{base}/api/v1/staff/session", timeout=30, json={
            "username": "sato", "password": STAFF_PASSWORD}).json()["token"]}

        def unlock_task() -> dict[str, object] | None:
            tasks = httpx.get(f"{base}/api/v1/tasks", headers=staff, timeout=10).json()
            rows = tasks["tasks"] if isinstance(tasks, dict) else tasks
            return next((t for t in rows if t["kind"] == "download_answer_unlock"), None)

        task = _wait("unlock task", unlock_task)
        assert httpx.post(f"{base}/api/v1/tasks/{task['id']}/claim", headers=staff, timeout=30).status_code == 200
        done = httpx.post(f"{base}/api/v1/tasks/{task['id']}/complete", headers=staff, timeout=30,
                          json={"outcome": "unlock", "note": "本人確認済み"})
        assert done.status_code == 200, done.text

        answered = httpx.post(reset, json={"answer": "ｐｏｃｈｉ"}, timeout=30)
        assert answered.status_code == 200, answered.text
        new = answered.json()["download_password"]
        notice = _wait("reset mail", lambda: mail("証明書ダウンロード用パスワード再設定のお知らせ"))
        assert new not in str(notice["body"]) and old not in str(notice["body"])
        refused = httpx.post(f"{base}/api/v1/downloads/{download}", json={"download_password": old}, timeout=30)
        assert refused.status_code == 400
        got = httpx.post(f"{base}/api/v1/downloads/{download}", json={"download_password": new}, timeout=30)
        assert got.status_code == 200 and got.headers["content-type"] == "application/x-pkcs12"
        key, cert, _ = pkcs12.load_key_and_certificates(got.content, new.encode())
        assert key is not None and cert is not None
    finally:
        assert stack.stop() == 0
