"""The Temporal worker: every workflow and activity of certdesk on one task queue.

Run alone with ``python worker.py`` (production, compose) or inside ``certdesk up``.
"""

import asyncio
import concurrent.futures
import logging

from temporalio.client import Client
from temporalio.worker import Worker

from activities.accounts import AccountActivities
from activities.context import ActivityContext
from activities.mail import MailActivities
from activities.pki import PkiActivities
from domain.settings import Settings, load_settings
from workflows.registry import WORKFLOWS


def activities_for(ctx: ActivityContext) -> list:
    accounts, mail, pki = AccountActivities(ctx), MailActivities(ctx), PkiActivities(ctx)
    return [
        accounts.expire_initial_password,
        mail.send_email,
        pki.issue_server_certificate,
        pki.issue_login_certificate,
        pki.revoke_certificate,
        pki.publish_crls,
    ]


def build_worker(client: Client, settings: Settings) -> Worker:
    ctx = ActivityContext.from_settings(settings)
    # Activities are synchronous (database, SMTP): they run in threads.
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=16)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=activities_for(ctx),
        activity_executor=executor,
        max_concurrent_activities=16,
    )


async def main() -> None:
    from datetime import timedelta

    from certdesk.temporal import connect

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    client = await connect(settings, wait=timedelta(seconds=60))
    await build_worker(client, settings).run()


if __name__ == "__main__":
    asyncio.run(main())
