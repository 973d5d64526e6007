"""A new application on the time-skipping server: received, reviewed after an escalation, issued."""

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.vetting_checks import VettingCheckEntry
from ca import authority
from certdesk.worker import build_worker
from domain.pki.lint import LintProfile, lint_certificate
from domain.settings import Settings
from store import accounts, dev_mailbox
from store.db import session_scope
from store.models import Application, CertificateRecord
from store.tasks import list_tasks
from tests.conftest import vetting_network
from tests.test_certificate_authority import make_csr
from workflows.domain_validation import perspective_queue
from workflows.human_task import TaskDecision
from workflows.server_cert_application import ApplicationInput, ServerCertApplication

# (check, source, reference, outcome, note) as the desk records them before approving
VETTING_CHECKS = (("organization", "nta_corporate_number", "5010401089998", "confirmed", ""),
                  ("phone_callback", "telephone_directory", "03-1234-5678", "confirmed", ""))


async def test_new_application_reviewed_late_is_escalated_then_issued_lint_clean(
    time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine, smtp_sink: tuple[int, Path]
) -> None:
    env = time_skipping_env
    authority.ensure_hierarchy(engine, settings)
    accounts.create_staff(engine, "boss", "supervisor", email="boss@ca.example.jp")
    customer = accounts.create_customer(engine, "Example KK", "it@example.co.jp", timedelta(days=30))
    with session_scope(engine) as s:
        app = Application(customer_id=customer.id, type="new", product="ov", csr_pem=make_csr("www.example.jp"),
                          names=["www.example.jp"],
                          organization={"name": "Example KK", "country": "JP", "state": "Tokyo",
                                        "locality": "Chiyoda-ku"})
        s.add(app)
        s.flush()
        app_id = int(app.id or 0)
    async with vetting_network(env.client, settings) as (settings, _zone), build_worker(env.client, settings):
        perspectives = [perspective_queue(n) for n in settings.remote_perspective_names]
        handle = await env.client.start_workflow(
            ServerCertApplication.run,
            ApplicationInput(app_id, customer.id, "www.example.jp (ov)", remote_perspectives=perspectives),
            id=f"application-{app_id}", task_queue=settings.task_queue)
        while not (tasks := [t for t in list_tasks(engine, kind="application_review") if t.workflow_id == handle.id]):
            await asyncio.sleep(0.05)
        await env.sleep(timedelta(days=6))  # nobody reviewed it in 3 business days
        escalated = [m for m in dev_mailbox.list_mail(smtp_sink[1]) if m.recipients == "boss@ca.example.jp"]
        assert len(escalated) == 1 and "期限超過" in escalated[0].subject
        approve = TaskDecision(int(tasks[0].id or 0), "approve", "", "staff:boss", "supervisor", "application_review")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(ServerCertApplication.complete_task, approve)
        assert refused.value.cause.type == "checklist_incomplete", refused.value.cause.message
        assert refused.value.cause.message.split() == ["organization_not_verified", "phone_callback_missing"]
        for entry in VETTING_CHECKS:
            missing = await handle.execute_update(ServerCertApplication.record_check, VettingCheckEntry(
                app_id, "", *entry, "staff:boss"))
        assert missing == []
        await handle.execute_update(ServerCertApplication.complete_task, approve)
        result = await handle.result()
    assert result.status == "issued"
    with session_scope(engine) as s:
        app = s.get(Application, app_id)
        record = s.exec(select(CertificateRecord).where(CertificateRecord.serial == result.serial)).one()
    assert (app.status, app.certificate_serial, app.contract_code) == ("issued", result.serial, f"C{app_id:07d}")
    cert = x509.load_der_x509_certificate(record.der)
    assert lint_certificate(record.der, LintProfile.OV) == []
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=199) - timedelta(seconds=1)
    assert any(m.recipients == "it@example.co.jp" and "発行" in m.subject for m in dev_mailbox.list_mail(smtp_sink[1]))
