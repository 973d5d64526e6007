"""A remote network perspective (BR 3.2.2.9): a worker that only looks, from its own network.

``python -m certdesk.perspective NAME`` polls the task queue ``perspective-NAME`` and answers
the domain checks the DomainValidation workflows fan out, with its own resolver
(``CERTDESK_DNS_RESOLVER``). It needs no database and holds no key: it reports what it saw.
"""

import asyncio
import concurrent.futures
import logging
import sys
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.vetting import PerspectiveActivities
from domain.settings import Settings, load_settings
from processes.connection import connect
from workflows.domain_validation import perspective_queue

PRIMARY = "primary"  # the main worker's own look


def build_perspective_worker(client: Client, settings: Settings, name: str) -> Worker:
    looks = PerspectiveActivities(settings, name)
    return Worker(client, task_queue=perspective_queue(name), activities=[looks.check_domain_control, looks.check_caa],
                  activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=8))


async def main(name: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    client = await connect(settings, wait=timedelta(seconds=60))
    await build_perspective_worker(client, settings, name).run()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m certdesk.perspective NAME")
    asyncio.run(main(sys.argv[1]))
