"""Nobody stranded (issue 15) on the time-skipping server: a download password given again to the
browser that lost its answer, 「ダウンロードパスワードを忘れた」, and no refusal from a row that has
not caught up with its workflow.

The API in process, the worker with the real activities, a real database and SMTP sink.
"""

import asyncio
import concurrent.futures
import re
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import func, select
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.context import ActivityContext
from activities.login_certificates import EnrollmentChange
from api.app import create_app
from ca import authority
from certdesk.worker import activities_for, workflow_runner
from domain.settings import Settings
from store import accounts
from store.db import session_scope
from store.models import AuditEvent, Enrollment, SealedAnswer, Task
from tests.login_service import Service
from tests.test_login_certificates import download_url_of, open_pkcs12, register, row_workflow_id, staff_token, token_of
from workflows.login_delivery import LoginCertProcess
from workflows.registry import WORKFLOWS

DOWNLOAD_MAIL = "電子証明書ダウンロードのご案内"
RESET_MAIL = "証明書ダウンロード用パスワード再設定のお知らせ"


def sealed_count(engine: Engine) -> int:
    with session_scope(engine) as s:
        return int(s.exec(select(func.count()).select_from(SealedAnswer)).one())


def stranger(svc: Service) -> httpx.AsyncClient:
    """Another browser: the same site, none of the first one's cookies."""
    return httpx.AsyncClient(transport=svc.http._transport, base_url=str(svc.http.base_url))


async def otp_and_question(svc: Service, invitation: dict[str, str]) -> str:
    token = token_of(invitation["enrollment_url"])
    otp = await svc.http.post(f"/api/v1/enroll/{token}/otp",
                              json={"one_time_password": invitation["one_time_password"]})
    assert otp.status_code == 200, otp.text
    return token


async def test_the_browser_that_lost_its_answer_gets_the_same_password(service: Service, tmp_path: Path) -> None:
    svc = service
    invitation = await svc.invite()
    token = await otp_and_question(svc, invitation)
    step = {"question_id": "first_pet", "answer": "Pochi"}
    first = await svc.http.post(f"/api/v1/enroll/{token}/secret", json=step)
    assert first.status_code == 200
    password = first.json()["download_password"]
    # Kept only sealed: the database holds no password, no hash of it, nothing another cookie opens.
    with session_scope(svc.engine) as s:
        sealed = s.exec(select(SealedAnswer)).one()
    assert password.encode() not in sealed.sealed and b"Pochi" not in sealed.sealed

    # The answer was lost: the same browser sends the same step again and gets the same password;
    # the same step typed as the person types it (case, width) is the same step.
    again = await svc.http.post(f"/api/v1/enroll/{token}/secret", json={**step, "answer": " ＰＯＣＨＩ"})
    assert again.status_code == 200 and again.json() == {"download_password": password}
    # Another answer is another step, which the process is past: refused, no password.
    other = await svc.http.post(f"/api/v1/enroll/{token}/secret", json={**step, "answer": "Tama"})
    assert other.status_code == 409 and "download_password" not in other.json()
    async with stranger(svc) as browser:
        hijack = await browser.post(f"/api/v1/enroll/{token}/secret", json=step)
        assert hijack.status_code in (403, 409) and "download_password" not in hijack.json()
        # A made-up cookie for this enrollment opens nothing either.
        browser.cookies.set("certdesk_enroll_step", f"{invitation['id']}.forged")
        forged = await browser.post(f"/api/v1/enroll/{token}/secret", json=step)
        assert "download_password" not in forged.json()

    download = download_url_of(await svc.wait_for_mail(DOWNLOAD_MAIL))
    p12 = await svc.http.post(f"/api/v1/downloads/{download}", json={"download_password": password})
    assert p12.status_code == 200
    open_pkcs12(p12.content, password, tmp_path)
    # The download forgets the password's seal: nothing is given again after it.
    late = await svc.http.post(f"/api/v1/enroll/{token}/secret", json=step)
    assert late.status_code in (409, 410) and "download_password" not in late.json()
    # The download's own answer (the file, encrypted under the password) is kept for its window:
    # asked again with the password, the same file; with another, nothing.
    with session_scope(svc.engine) as s:
        assert [r.step for r in s.exec(select(SealedAnswer)).all()] == ["download"]
    again = await svc.http.post(f"/api/v1/downloads/{download}", json={"download_password": password})
    assert again.status_code == 200 and again.content == p12.content
    wrong = await svc.http.post(f"/api/v1/downloads/{download}", json={"download_password": "AAAAA-AAAAA-AAAAA-AAAAA"})
    assert wrong.status_code == 410 and not wrong.content.startswith(b"0")
    await svc.env.sleep(svc.settings.answer_replay_window + timedelta(minutes=1))
    for _ in range(50):
        if sealed_count(svc.engine) == 0:
            break
        await svc.env.sleep(timedelta(seconds=1))
    assert sealed_count(svc.engine) == 0
    gone = await svc.http.post(f"/api/v1/downloads/{download}", json={"download_password": password})
    assert gone.status_code == 410


async def test_the_window_closes_and_the_seal_is_forgotten(service: Service) -> None:
    svc = service
    invitation = await svc.invite()
    token = await otp_and_question(svc, invitation)
    step = {"question_id": "birth_town", "answer": "Kobe"}
    assert (await svc.http.post(f"/api/v1/enroll/{token}/secret", json=step)).status_code == 200
    assert sealed_count(svc.engine) == 1
    await svc.wait_for_mail(DOWNLOAD_MAIL)
    # The workflow's timer forgets it when the window closes, though nobody downloaded.
    await svc.env.sleep(svc.settings.answer_replay_window + timedelta(seconds=5))
    for _ in range(50):
        if sealed_count(svc.engine) == 0:
            break
        await svc.env.sleep(timedelta(seconds=1))
    assert sealed_count(svc.engine) == 0
    late = await svc.http.post(f"/api/v1/enroll/{token}/secret", json=step)
    assert late.status_code == 409 and "download_password" not in late.json()


async def test_a_reissue_answer_is_given_again_to_its_browser(service: Service, tmp_path: Path) -> None:
    svc = service
    invitation = await svc.invite()
    password = await register(svc, invitation, answer="Tanaka")
    download = download_url_of(await svc.wait_for_mail(DOWNLOAD_MAIL))
    got = await svc.http.post(f"/api/v1/downloads/{download}", json={"download_password": password})
    assert got.status_code == 200
    serial = (await svc.status(invitation["id"]))["certificate_serial"]
    svc.http.cookies.clear()
    started = await svc.http.post(f"/api/v1/login-certificates/{serial}/reissue", headers=svc.tenant,
                                  json={"revoke_old": "on_download"})
    assert started.status_code == 201
    guide = await svc.wait_for_mail("証明書再発行手順のご案内")
    token = re.search(r"/reissue/(\S+)", guide.body).group(1)  # type: ignore[union-attr]
    # The question (JSON twin of the page) gives the browser its step cookie.
    question = await svc.http.get(f"/api/v1/reissue/{token}/question")
    assert question.status_code == 200 and question.json()["question"]["id"] == "mother_maiden_name"
    assert "certdesk_enroll_step" in question.cookies
    first = await svc.http.post(f"/api/v1/reissue/{token}/answer", json={"answer": "Tanaka"})
    assert first.status_code == 200
    again = await svc.http.post(f"/api/v1/reissue/{token}/answer", json={"answer": "tanaka"})
    assert again.status_code == 200 and again.json() == first.json()
    async with stranger(svc) as browser:
        other = await browser.post(f"/api/v1/reissue/{token}/answer", json={"answer": "Tanaka"})
        assert other.status_code == 409 and "download_password" not in other.json()
    new_download = download_url_of(await svc.wait_for_mail(DOWNLOAD_MAIL, count=2))
    p12 = await svc.http.post(f"/api/v1/downloads/{new_download}", json=first.json())
    assert p12.status_code == 200
    open_pkcs12(p12.content, first.json()["download_password"], tmp_path)


async def test_a_forgotten_download_password_is_reset_by_the_secret_answer(service: Service, tmp_path: Path) -> None:
    svc = service
    invitation = await svc.invite()
    old = await register(svc, invitation, answer="Tanaka")
    download = download_url_of(await svc.wait_for_mail(DOWNLOAD_MAIL))
    window = (await svc.status(invitation["id"]))["download_expires_at"]
    question = await svc.http.get(f"/api/v1/downloads/{download}/question")
    assert question.json()["question"]["id"] == "mother_maiden_name"

    wrong = await svc.http.post(f"/api/v1/downloads/{download}/password-reset", json={"answer": "Suzuki"})
    assert wrong.status_code == 400 and wrong.json()["attempts_left"] == 4
    blank = await svc.http.post(f"/api/v1/downloads/{download}/password-reset", json={"answer": " "})
    assert blank.status_code == 422 and blank.json()["field"] == "answer"
    reset = await svc.http.post(f"/api/v1/downloads/{download}/password-reset", json={"answer": "ｔａｎａｋａ"})
    assert reset.status_code == 200, reset.text
    new = reset.json()["download_password"]
    assert new != old
    mail = await svc.wait_for_mail(RESET_MAIL)
    assert new not in mail.body and old not in mail.body and f"/download/{download}" in mail.body
    # The old password stops working (counted as a wrong guess); the window is the same.
    refused = await svc.http.post(f"/api/v1/downloads/{download}", json={"download_password": old})
    assert refused.status_code == 400
    assert (await svc.status(invitation["id"]))["download_expires_at"] == window
    p12 = await svc.http.post(f"/api/v1/downloads/{download}", json={"download_password": new})
    assert p12.status_code == 200
    open_pkcs12(p12.content, new, tmp_path)
    # Only while the key waits to be downloaded.
    after = await svc.http.post(f"/api/v1/downloads/{download}/password-reset", json={"answer": "Tanaka"})
    assert after.status_code == 410 and "download_password" not in after.json()
    with session_scope(svc.engine) as s:
        events = [a for a in s.exec(select(AuditEvent).where(
            AuditEvent.action == "enrollment.download_password_reset")).all()]
    assert len(events) == 1 and new not in str(events[0].details) and "tanaka" not in str(events[0].details).lower()


async def download_unlock_task(svc: Service) -> Task:
    for _ in range(50):
        with session_scope(svc.engine) as s:
            task = s.exec(select(Task).where(Task.kind == "download_answer_unlock", Task.state != "done")).first()
        if task:
            return task
        await svc.env.sleep(timedelta(seconds=1))
    raise AssertionError("no download_answer_unlock task")


async def test_wrong_answers_lock_the_reset_until_support_unlocks_it(service: Service, tmp_path: Path) -> None:
    svc = service
    invitation = await svc.invite()
    old = await register(svc, invitation, answer="Tanaka")
    download = download_url_of(await svc.wait_for_mail(DOWNLOAD_MAIL))
    reset = f"/api/v1/downloads/{download}/password-reset"
    for left in (4, 3, 2, 1):
        wrong = await svc.http.post(reset, json={"answer": "Suzuki"})
        assert wrong.status_code == 400 and wrong.json()["attempts_left"] == left
    locked = await svc.http.post(reset, json={"answer": "Suzuki"})
    assert locked.status_code == 423 and "ロック" in locked.json()["message"]
    assert (await svc.http.post(reset, json={"answer": "Tanaka"})).status_code == 423  # even the right one
    task = await download_unlock_task(svc)
    assert task.subject == f"enrollment:{invitation['id']}" and "u-1001" in task.title
    # The download itself stays open with the password the person has.
    staff = await staff_token(svc)
    assert (await svc.http.post(f"/api/v1/tasks/{task.id}/claim", headers=staff)).status_code == 200
    done = await svc.http.post(f"/api/v1/tasks/{task.id}/complete", headers=staff,
                               json={"outcome": "unlock", "note": "called the user"})
    assert done.status_code == 200, done.text
    again = await svc.http.post(reset, json={"answer": "Tanaka"})
    assert again.status_code == 200
    new = again.json()["download_password"]
    assert (await svc.http.post(f"/api/v1/downloads/{download}", json={"download_password": old})).status_code == 400
    p12 = await svc.http.post(f"/api/v1/downloads/{download}", json={"download_password": new})
    assert p12.status_code == 200
    open_pkcs12(p12.content, new, tmp_path)


async def test_a_lock_nobody_unlocked_is_withdrawn_when_the_download_ends(service: Service) -> None:
    svc = service
    invitation = await svc.invite()
    await register(svc, invitation, answer="Tanaka")
    download = download_url_of(await svc.wait_for_mail(DOWNLOAD_MAIL))
    for _ in range(svc.settings.secret_answer_max_attempts):
        await svc.http.post(f"/api/v1/downloads/{download}/password-reset", json={"answer": "Suzuki"})
    task = await download_unlock_task(svc)
    await svc.env.sleep(svc.settings.download_ttl + timedelta(minutes=1))  # nobody unlocked it
    for _ in range(50):
        with session_scope(svc.engine) as s:
            closed = s.get(Task, task.id)
            assert closed is not None
            if closed.state == "done":
                break
        await svc.env.sleep(timedelta(seconds=1))
    assert (closed.state, closed.outcome, closed.completed_by) == ("done", "withdrawn", "timer")
    assert (await svc.status(invitation["id"]))["status"] == "download_expired"
    assert sealed_count(svc.engine) == 0


# --- a row that has not caught up ------------------------------------------------------------------

@pytest.fixture
async def slow_mirror(time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine,
                      smtp_sink: tuple[int, Path]) -> AsyncIterator[tuple[Service, threading.Event]]:
    """The service with a worker whose mirror of "question" onto the row waits for a gate (as when a
    crash leaves that activity to its retry), everything else as it is."""
    authority.ensure_hierarchy(engine, settings)
    _, key = accounts.create_tenant(engine, "Example Shop")
    gate = threading.Event()
    real = activities_for(ActivityContext.from_settings(settings))
    mirror = next(a for a in real if activity._Definition.from_callable(a).name == "set_enrollment_state")  # type: ignore[union-attr]

    @activity.defn(name="set_enrollment_state")
    def delayed_mirror(change: EnrollmentChange) -> None:
        if change.state == "question":
            gate.wait(60)
        mirror(change)

    activities = [delayed_mirror if a is mirror else a for a in real]
    worker = Worker(time_skipping_env.client, task_queue=settings.task_queue, workflows=WORKFLOWS,
                    workflow_runner=workflow_runner(), activities=activities,
                    activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=16))
    try:
        async with worker, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, time_skipping_env.client)),
            base_url="http://certdesk.test",
        ) as http:
            yield Service(http, time_skipping_env, engine, settings, smtp_sink[1],
                          {"authorization": f"Bearer {key}"}, {}), gate
    finally:
        gate.set()


async def test_the_secret_step_is_taken_right_after_the_otp_though_the_row_lags(
        slow_mirror: tuple[Service, threading.Event], tmp_path: Path) -> None:
    svc, gate = slow_mirror
    invitation = await svc.invite()
    token = token_of(invitation["enrollment_url"])
    otp = {"one_time_password": invitation["one_time_password"]}
    # The first OTP's answer waits for its mirror; the person sends it again (as after a crash).
    first = asyncio.create_task(svc.http.post(f"/api/v1/enroll/{token}/otp", json=otp))
    handle = svc.env.client.get_workflow_handle(row_workflow_id(svc, invitation["id"]))
    for _ in range(100):
        if await handle.query(LoginCertProcess.status) == "question":
            break
        await asyncio.sleep(0.05)
    retried = await svc.http.post(f"/api/v1/enroll/{token}/otp", json=otp)
    assert retried.status_code == 200 and not first.done()
    with session_scope(svc.engine) as s:
        assert s.exec(select(Enrollment.state).where(Enrollment.public_id == invitation["id"])).one() == "otp"
    # The row still says "otp"; the workflow says "question": the step is taken.
    secret = await svc.http.post(f"/api/v1/enroll/{token}/secret", json={"question_id": "first_pet", "answer": "Pochi"})
    assert secret.status_code == 200, secret.text
    password = secret.json()["download_password"]
    gate.set()
    assert (await first).status_code == 200
    # The late mirror does not move the row back; the registration goes on to the download.
    download = download_url_of(await svc.wait_for_mail(DOWNLOAD_MAIL))
    with session_scope(svc.engine) as s:
        assert s.exec(select(Enrollment.state).where(Enrollment.public_id == invitation["id"])).one() == "download"
    p12 = await svc.http.post(f"/api/v1/downloads/{download}", json={"download_password": password})
    assert p12.status_code == 200
    open_pkcs12(p12.content, password, tmp_path)
