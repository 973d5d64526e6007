"""CRLs republished by a workflow on a Temporal Schedule; CA material and CRLs served over http."""

import uuid

import httpx
from cryptography import x509
from pydantic import SecretStr
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from ca import authority
from certdesk.worker import build_worker
from domain.pki import hierarchy
from domain.settings import Settings
from processes.client import Processes
from processes.connection import TemporalHandle
from processes.schedules import ensure_crl_schedule
from store import certificates
from workflows.crl_publication import INTERVAL, SCHEDULE_ID, CrlPublication

PUBLIC = "http://pki.certdesk-test.com"


def _pki(settings: Settings) -> Settings:
    return settings.model_copy(update={"public_url": PUBLIC, "ca_passphrase": SecretStr("crl test passphrase")})


async def test_publication_run_republishes_every_crl(
    time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine
) -> None:
    settings = _pki(settings)
    authority.ensure_hierarchy(engine, settings)
    authority.publish_missing_crls(engine, settings)
    async with build_worker(time_skipping_env.client, settings):
        numbers = await time_skipping_env.client.execute_workflow(
            CrlPublication.run, id=f"crl-{uuid.uuid4().hex}", task_queue=settings.task_queue)
    assert numbers == {issuer: 2 for issuer in hierarchy.CRL_ISSUERS}


async def test_schedule_is_created_once_and_runs_daily(local_env: WorkflowEnvironment, settings: Settings) -> None:
    client: Client = local_env.client
    settings = settings.model_copy(update={"task_queue": f"crl-{uuid.uuid4().hex[:6]}"})
    handle = client.get_schedule_handle(SCHEDULE_ID)
    try:
        processes = Processes(TemporalHandle(settings, client), settings)
        assert await ensure_crl_schedule(processes) is True
        assert await ensure_crl_schedule(processes) is False
        described = await handle.describe()
        assert [i.every for i in described.schedule.spec.intervals] == [INTERVAL]
        assert described.schedule.action.workflow == "CrlPublication"
    finally:
        await handle.delete()


async def test_ca_certificates_and_crls_are_served_as_der(settings: Settings, engine: Engine) -> None:
    settings = _pki(settings)
    authority.ensure_hierarchy(engine, settings)
    authority.publish_missing_crls(engine, settings)
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        for name in ("tls-root", "server-ca", "client-root", "login-ca"):
            r = await http.get(f"/pki/{name}.crt")
            assert r.status_code == 200 and r.headers["content-type"] == "application/pkix-cert"
            assert x509.load_der_x509_certificate(r.content) == certificates.ca_certificate(engine, name)
            r = await http.get(f"/pki/{name}.crl")
            assert r.status_code == 200 and r.headers["content-type"] == "application/pkix-crl"
            crl = x509.load_der_x509_crl(r.content)
            assert crl.is_signature_valid(certificates.ca_certificate(engine, name).public_key())
        for path in ("/pki/server-ocsp.crt", "/pki/nothing.crl", "/pki/server-ocsp.crl", "/pki/..%2Fx.crt"):
            assert (await http.get(path)).status_code == 404
