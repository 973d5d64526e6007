"""The login certificate service for tests on the time-skipping server: the API in process, the
worker with the real activities, a real database and SMTP sink, and two tenants. The ``service``
fixture is registered in conftest."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from ca import authority
from certdesk.worker import build_worker
from domain.settings import Settings
from store import accounts, dev_mailbox


@dataclass
class Service:
    http: httpx.AsyncClient
    env: WorkflowEnvironment
    engine: Engine
    settings: Settings
    mail_dir: Path
    tenant: dict[str, str]
    other: dict[str, str]

    async def invite(self, user_id: str = "u-1001", name: str = "Yamada Taro", **extra: str) -> dict[str, str]:
        invitation = {"user_id": user_id, "email": f"{user_id}@example.jp", "name": name, **extra}
        answer = await self.http.post("/api/v1/enrollments", headers=self.tenant, json=invitation)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def mails(self, subject: str) -> list[dev_mailbox.StoredMail]:
        return [m for m in dev_mailbox.list_mail(self.mail_dir) if m.subject == subject]

    async def wait_for_mail(self, subject: str, count: int = 1) -> dev_mailbox.StoredMail:
        for _ in range(200):
            found = self.mails(subject)[::-1]  # oldest first
            if len(found) >= count:
                return found[count - 1]
            await self.env.sleep(timedelta(seconds=1))
        raise AssertionError(f"no mail {subject!r}")

    async def status(self, enrollment_id: str) -> dict[str, str]:
        return (await self.http.get(f"/api/v1/enrollments/{enrollment_id}", headers=self.tenant)).json()


@pytest.fixture
async def service(time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine,
                  smtp_sink: tuple[int, Path]) -> AsyncIterator[Service]:
    authority.ensure_hierarchy(engine, settings)
    _, key = accounts.create_tenant(engine, "Example Shop")
    _, other_key = accounts.create_tenant(engine, "Other Shop")
    async with build_worker(time_skipping_env.client, settings), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings, time_skipping_env.client)),
        base_url="http://certdesk.test",
    ) as http:
        yield Service(http, time_skipping_env, engine, settings, smtp_sink[1],
                      {"authorization": f"Bearer {key}"}, {"authorization": f"Bearer {other_key}"})
