"""The initial password timer, on the time-skipping server with the real activities, database and SMTP."""

import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.accounts import AccountActivities, InitialPasswordRef
from activities.context import ActivityContext
from activities.mail import MailActivities, MailRequest
from certdesk.worker import build_worker
from domain.settings import Settings
from store import accounts, dev_mailbox
from store.db import session_scope
from store.models import AuditEvent, Customer, SentEmail
from workflows.initial_password import InitialPasswordExpiry, InitialPasswordInput


async def _start(env: WorkflowEnvironment, settings: Settings, new: accounts.NewCustomer) -> WorkflowHandle:
    return await env.client.start_workflow(
        InitialPasswordExpiry.run,
        InitialPasswordInput(new.id, new.password_version, new.password_expires_at.isoformat()),
        id=f"initial-password-{uuid.uuid4().hex}", task_queue=settings.task_queue,
    )


async def test_unchanged_initial_password_expires_after_30_days_and_mails_once(
    time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine, smtp_sink: tuple[int, Path]
) -> None:
    env = time_skipping_env
    now = await env.get_current_time()
    new = accounts.create_customer(engine, "サンプル株式会社", "admin@example.co.jp", timedelta(days=30), now=now)
    async with build_worker(env.client, settings):
        handle = await _start(env, settings, new)
        await env.sleep(timedelta(days=29))
        with session_scope(engine) as s:
            assert not s.exec(select(Customer).where(Customer.id == new.id)).one().password_expired
        assert await handle.result() is True
    with session_scope(engine) as s:
        assert s.exec(select(Customer).where(Customer.id == new.id)).one().password_expired
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "initial_password.expired")).one()
        assert audit.actor == "timer"
    mails = dev_mailbox.list_mail(smtp_sink[1])
    assert len(mails) == 1
    assert mails[0].recipients == "admin@example.co.jp"
    assert "初期パスワード" in mails[0].subject and new.access_key in mails[0].body
    assert new.initial_password not in mails[0].body


async def test_changed_password_is_never_expired(
    time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine, smtp_sink: tuple[int, Path]
) -> None:
    env = time_skipping_env
    new = accounts.create_customer(engine, "B", "b@example.com", timedelta(days=30),
                                   now=await env.get_current_time())
    async with build_worker(env.client, settings):
        handle = await _start(env, settings, new)
        await env.sleep(timedelta(days=3))
        await handle.signal(InitialPasswordExpiry.password_changed)
        assert await handle.result() is False
    with session_scope(engine) as s:
        assert not s.exec(select(Customer).where(Customer.id == new.id)).one().password_expired
    assert dev_mailbox.list_mail(smtp_sink[1]) == []


def test_activities_are_idempotent_on_their_business_keys(
    settings: Settings, engine: Engine, smtp_sink: tuple[int, Path]
) -> None:
    """A retried activity neither records twice nor mails twice."""
    ctx = ActivityContext(settings, engine)
    new = accounts.create_customer(engine, "C", "c@example.com", timedelta(0))
    ref = InitialPasswordRef(new.id, 1)
    first = AccountActivities(ctx).expire_initial_password(ref)
    again = AccountActivities(ctx).expire_initial_password(ref)
    assert first.expired and again.expired and first == again
    assert AccountActivities(ctx).expire_initial_password(InitialPasswordRef(new.id, 2)).expired is False
    req = MailRequest("initial-password-expired:test:1", "c@example.com", "initial_password_expired", "en",
                      {"organization": "C", "access_key": new.access_key, "expired_on": first.expired_on})
    assert MailActivities(ctx).send_email(req) is True
    assert MailActivities(ctx).send_email(req) is False
    with session_scope(engine) as s:
        assert len(s.exec(select(AuditEvent).where(AuditEvent.action == "initial_password.expired")).all()) == 1
        assert s.exec(select(SentEmail)).one().state == "sent"
    mails = dev_mailbox.list_mail(smtp_sink[1])
    assert len(mails) == 1 and mails[0].subject == "[certdesk] Your initial password has expired"
