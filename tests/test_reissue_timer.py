"""The two-week wait of a reissue on the time-skipping server: reminder the day before, revocation at day 14."""

import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from ca import authority
from certdesk.worker import build_worker
from domain.pki.profiles import OrganisationSubject
from domain.settings import Settings
from store import accounts, dev_mailbox
from store.db import session_scope
from store.models import Application, CertificateRecord
from tests.test_certificate_authority import make_csr
from workflows.reissue import Reissue, ReissueInput


def _state(engine: Engine, serial: str) -> str:
    with session_scope(engine) as s:
        return s.exec(select(CertificateRecord).where(CertificateRecord.serial == serial)).one().state


async def test_previous_certificate_is_revoked_at_day_14_and_not_before(
    time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine, smtp_sink: tuple[int, Path]
) -> None:
    env = time_skipping_env
    authority.ensure_hierarchy(engine, settings)
    customer = accounts.create_customer(engine, "Example KK", "it@example.co.jp", timedelta(days=30))
    previous = authority.issue_server(engine, settings, "previous", make_csr("www.example.jp"),
                               OrganisationSubject("JP", "Example KK", "Tokyo", "Chiyoda-ku"), 90, "test")
    with session_scope(engine) as s:
        app = Application(customer_id=customer.id, type="reissue", product="ov", csr_pem=make_csr("www.example.jp"),
                          names=["www.example.jp"], reason="after_two_weeks",
                          organization={"name": "Example KK", "country": "JP", "state": "Tokyo",
                                        "locality": "Chiyoda-ku"})
        s.add(app)
        s.flush()
        app_id = int(app.id or 0)
    async with build_worker(env.client, settings):
        handle = await env.client.start_workflow(
            Reissue.run, ReissueInput(app_id, customer.id, previous.serial, "after_two_weeks"),
            id=f"reissue-{uuid.uuid4().hex[:8]}", task_queue=settings.task_queue)
        await env.sleep(timedelta(days=12, hours=23))
        assert _state(engine, previous.serial) == "issued"
        subjects = [m.subject for m in dev_mailbox.list_mail(smtp_sink[1])]
        assert sorted(subjects) == [f"【certdesk】お申込み受付のお知らせ（再発行・申請番号 {app_id}）",
                                    f"【certdesk】サーバ証明書発行のお知らせ（申請番号 {app_id}）"]  # no reminder yet
        await env.sleep(timedelta(hours=2))  # day 13: the reminder
        assert any("失効予定" in m.subject for m in dev_mailbox.list_mail(smtp_sink[1]))
        await env.sleep(timedelta(hours=22))  # day 14 minus an hour
        assert _state(engine, previous.serial) == "issued"
        result = await handle.result()
    assert result.previous == "revoked"
    assert _state(engine, previous.serial) == "revoked"
    with session_scope(engine) as s:
        assert s.get(Application, app_id).revoke_previous_at is not None
