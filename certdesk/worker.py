"""The Temporal worker: every workflow and activity of certdesk on one task queue.

Run alone with ``python -m certdesk.worker`` (production, compose) or inside ``certdesk up``.
"""

import asyncio
import concurrent.futures
import logging
from typing import Any

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.accounts import AccountActivities, PasswordResetActivities
from activities.applications import ApplicationActivities
from activities.calendar import business_deadlines
from activities.contact_changes import ContactChangeActivities
from activities.context import ActivityContext
from activities.contracts import ContractActivities
from activities.devices import DeviceActivities
from activities.login_certificates import LoginCertActivities
from activities.login_handover import LoginHandoverActivities
from activities.login_methods import LoginMethodActivities
from activities.mail import MailActivities
from activities.oidc_keys import OidcKeyActivities
from activities.pki import PkiActivities
from activities.tasks import TaskActivities
from activities.vetting import DomainValidationActivities, PerspectiveActivities
from activities.vetting_checks import VettingCheckActivities
from domain.settings import Settings, load_settings
from workflows.registry import WORKFLOWS


def activities_for(ctx: ActivityContext) -> list:
    accounts, mail, pki = AccountActivities(ctx), MailActivities(ctx), PkiActivities(ctx)
    resets, tasks, apps = PasswordResetActivities(ctx), TaskActivities(ctx), ApplicationActivities(ctx)
    login, dcv = LoginCertActivities(ctx), DomainValidationActivities(ctx)
    primary = PerspectiveActivities(ctx.settings, "primary")  # the main worker's own network look
    vetting_checks = VettingCheckActivities(ctx)
    contracts = ContractActivities(ctx)
    contact_changes = ContactChangeActivities(ctx)
    handovers = LoginHandoverActivities(ctx)
    devices = DeviceActivities(ctx)
    login_methods = LoginMethodActivities(ctx)
    return [
        login_methods.mail_login_method_changed,
        devices.invite_device,
        handovers.handover_facts,
        handovers.invite_new_person,
        handovers.bind_new_certificate,
        handovers.mail_handover,
        contact_changes.contact_change_facts,
        contact_changes.apply_contact_change,
        contact_changes.reject_contact_change,
        contact_changes.mail_contact_change,
        contracts.establish_contract,
        contracts.take_certificate,
        contracts.contract_facts,
        contracts.send_contract_reminder,
        contracts.renew_contract,
        contracts.end_contract,
        contracts.file_cancellation,
        contracts.withdraw_cancellation,
        contracts.cancel_now,
        vetting_checks.approval_facts,
        vetting_checks.record_check,
        dcv.prepare,
        dcv.record,
        dcv.mail_email_challenge,
        dcv.expire,
        dcv.names,
        dcv.caa_request,
        dcv.record_caa,
        primary.check_domain_control,
        primary.check_caa,
        login.set_enrollment_state,
        login.register_credentials,
        login.issue_certificate,
        login.mail_enrollment,
        login.finish_download,
        login.discard_undelivered,
        login.forget_sealed_answers,
        login.reset_download_password,
        login.describe_enrollment,
        login.revoke_login_certificate,
        apps.set_application_status,
        apps.issue_application_certificate,
        apps.revoke_application_certificate,
        apps.schedule_previous_revocation,
        apps.close_application_tasks,
        apps.mail_application_event,
        business_deadlines,
        accounts.expire_initial_password,
        resets.reset_customer_password,
        resets.notify_password_reset_rejected,
        tasks.open_task,
        tasks.record_task_outcome,
        tasks.remind_task,
        tasks.escalate_task,
        mail.send_email,
        pki.publish_crls,
        OidcKeyActivities(ctx).rotate_oidc_keys,
    ]


def workflow_runner() -> SandboxedWorkflowRunner:
    """The default sandbox; ``holidays`` (imported by domain modules that workflows import for
    their types) is passed through so the sandbox does not re-import it."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("holidays", "dateutil")
    )


def metrics_runtime(address: str) -> Runtime:
    """A Temporal SDK runtime whose metrics (``temporal_*``: polls, task latencies, slots) Prometheus
    scrapes on ``address`` ("host:port"), CERTDESK_WORKER_METRICS_ADDRESS."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


def install_metrics_runtime(settings: Settings) -> None:
    """With CERTDESK_WORKER_METRICS_ADDRESS: the default runtime, before any client is made, so every
    client (and worker) of this process reports."""
    if settings.worker_metrics_address:
        Runtime.set_default(metrics_runtime(settings.worker_metrics_address), error_if_already_set=True)


# Workflows kept in memory between their tasks (the SDK's default is 1,000). Each sandboxed instance
# costs ~0.1 MB, and most of certdesk's processes wait days on a timer, so a large cache holds idle
# ones: with 10,000 waiting (bench/waiting.py) the default took the worker from ~250 MB to ~370 MB.
# An evicted process replays its short history on its next task (milliseconds). It must be at least
# the concurrent workflow tasks (the SDK's default 100), which is what is active at one moment.
MAX_CACHED_WORKFLOWS = 256


def build_worker(client: Client, settings: Settings, **options: Any) -> Worker:
    ctx = ActivityContext.from_settings(settings)
    # Activities are synchronous (database, SMTP): they run in threads.
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=16)
    options.setdefault("max_cached_workflows", MAX_CACHED_WORKFLOWS)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        activities=activities_for(ctx),
        activity_executor=executor,
        max_concurrent_activities=16,
        **options,
    )


async def main() -> None:
    from datetime import timedelta

    from api import logging_json
    from ca import at_rest, authority
    from domain.pki.errors import CaConfigurationError
    from processes.connection import connect
    from store.db import engine_for

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    logging_json.install(settings.log_format)
    install_metrics_runtime(settings)
    try:
        at_rest.prepare(settings)  # no passphrase in production: refuse; files 0600, folders 0700
    except CaConfigurationError as exc:
        raise SystemExit(f"certdesk worker: {exc}") from None
    # The worker is the CA's process: the hierarchy (and its first CRLs) exist before any issuance.
    engine = engine_for(settings.resolved_database_url)
    await asyncio.to_thread(authority.ensure_hierarchy, engine, settings)
    await asyncio.to_thread(authority.publish_missing_crls, engine, settings)
    client = await connect(settings, wait=timedelta(seconds=60))
    await build_worker(client, settings).run()


if __name__ == "__main__":
    asyncio.run(main())
