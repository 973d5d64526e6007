"""Issue 15 on the real stack: the secret step takes effect, its answer (the download password,
shown once) never reaches the browser, and then the whole stack is killed with SIGKILL. After the
restart the same browser sends the same step again and gets the same password, which opens the
PKCS#12 mailed for download; another browser sending the same step gets no password."""

import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from store.db import make_engine, session_scope
from store.models import Enrollment, SealedAnswer
from tests.stack import Stack, cli_json, stack_env
from tests.test_login_certificates import open_pkcs12, token_of

EMAIL = "lost@crash.example.jp"
ANSWER = {"question_id": "first_pet", "answer": "Pochi"}
TOOK_EFFECT = 60  # seconds the cut-off step may take to reach the database (two argon2 hashes, an update)


def _row(db: Path) -> tuple[str, str | None, int, str | None]:
    """The enrollment's (state, download password hash, sealed download passwords, certificate serial);
    the PKCS#12 a download keeps for its own retry is not counted."""
    engine = make_engine(f"sqlite:///{db}")
    try:
        with session_scope(engine) as s:
            row = s.exec(select(Enrollment).where(Enrollment.email == EMAIL)).one()
            seals = len(s.exec(select(SealedAnswer).where(SealedAnswer.enrollment_id == row.id,
                                                          SealedAnswer.step != "download")).all())
            return row.state, row.download_password_hash, seals, row.certificate_serial
    finally:
        engine.dispose()


def _download_token(stack: Stack) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for mail in stack.get("/dev/mailbox/messages").json():
            if mail["to"] == EMAIL and "ダウンロードのご案内" in mail["subject"]:
                return str(mail["body"]).split("/download/", 1)[1].split()[0]
        time.sleep(0.3)
    raise AssertionError("no download mail")


def test_a_secret_step_whose_answer_a_crash_cut_off_gives_the_same_password_to_the_same_browser_only(
        tmp_path: Path) -> None:
    env = stack_env(tmp_path / "var")
    db = tmp_path / "var" / "certdesk.db"
    stack = Stack(env, tmp_path / "up.log")
    stack.start()
    running = True
    try:
        api_key = cli_json(env, "tenant", "create", "再送試験サイト")["api_key"]
        invited = httpx.post(f"{stack.base}/api/v1/enrollments", headers={"authorization": f"Bearer {api_key}"},
                             json={"user_id": "u-lost", "email": EMAIL, "name": "利用者 紛失"}, timeout=30)
        assert invited.status_code == 201, invited.text
        token = token_of(invited.json()["enrollment_url"])
        secret_step = f"{stack.base}/api/v1/enroll/{token}/secret"
        with httpx.Client() as browser:  # keeps the step cookie, as a browser does
            otp = browser.post(f"{stack.base}/api/v1/enroll/{token}/otp", timeout=30,
                               json={"one_time_password": invited.json()["one_time_password"]})
            assert otp.status_code == 200, otp.text
            assert _row(db)[0] == "question"

            # The answer is lost: the browser gives up long before the two argon2 hashes are done.
            with pytest.raises(httpx.ReadTimeout):
                browser.post(secret_step, json=ANSWER, timeout=httpx.Timeout(30, read=0.01))
            deadline = time.monotonic() + TOOK_EFFECT
            while _row(db)[0] == "question" and time.monotonic() < deadline:
                time.sleep(0.05)
            state, password_hash, seals, _ = _row(db)
            # The step took effect (credentials registered, the process past the question): the crash
            # comes after the acceptance, and the password lives only in the seal for this browser.
            assert state in ("issuing", "download") and password_hash and seals == 1, (state, seals)
            # Killed once the process waits for the download (its mail sent): an activity the kill cut
            # short would only be retried after its two-minute timeout (tests/chaos.py has those kills).
            download_token = _download_token(stack)
            stack.kill()
            running = False

            stack.start()
            running = True
            # Another browser (no step cookie) sending the very same step: refused, no password.
            stranger = httpx.post(secret_step, json=ANSWER, timeout=30)
            assert 400 <= stranger.status_code < 500 and "download_password" not in stranger.json(), stranger.text
            # The same browser, the same step: the same password, given again.
            again = browser.post(secret_step, json=ANSWER, timeout=30)
            assert again.status_code == 200, again.text
            password = again.json()["download_password"]
            # A different answer from the same browser is another step: no password for it.
            other = browser.post(secret_step, json={**ANSWER, "answer": "Tama"}, timeout=30)
            assert other.status_code == 409 and "download_password" not in other.json(), other.text

        download = httpx.post(f"{stack.base}/api/v1/downloads/{download_token}",
                              json={"download_password": password}, timeout=30)
        assert download.status_code == 200, download.text
        cert = open_pkcs12(download.content, password, tmp_path)
        assert format(cert.serial_number, "x") == _row(db)[3]  # the certificate issued for this registration
        deadline = time.monotonic() + 30  # the download forgets the password's seal
        while _row(db)[:3:2] != ("downloaded", 0) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _row(db)[:3:2] == ("downloaded", 0)
    finally:
        if running:
            stack.stop()
