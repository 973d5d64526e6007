"""The FastAPI app: JSON API under /api/v1, pages (Jinja2), health, the dev mailbox and DNS."""

import asyncio
import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from api import (
    application_list,
    application_requests,
    applications,
    audit,
    contact_changes,
    contracts,
    coupons,
    csrf,
    customers,
    dcv_email,
    dev_dns,
    domain_validations,
    downloads,
    end_user,
    enrollments,
    errors,
    log_redaction,
    login_handovers,
    metrics,
    new_application,
    nul_guard,
    oidc,
    password_resets,
    pki,
    profile,
    renewals,
    seal,
    staff_sessions,
    tasks,
    tenant_devices,
    vetting_desk,
)
from api.errors import ApiError
from api.rendering import render
from api.security_headers import SecurityHeaders
from api.sessions import CUSTOMER, STAFF
from domain.settings import Settings, load_settings
from processes.client import Processes
from processes.connection import TemporalClient, TemporalHandle
from store import dev_mailbox, totp
from store.db import engine_for, ping

log = logging.getLogger("certdesk.api")


def create_app(settings: Settings | None = None, temporal_client: TemporalClient | None = None,
               dev_network: dev_dns.DevNetwork | None = None) -> FastAPI:
    """``dev_network``: the loopback DNS zone and website ``certdesk up`` serves for development,
    edited at /dev/dns (never mounted in production)."""
    settings = settings or load_settings()
    log_redaction.install()

    # Every route, including any added later, answers a cross-site request only as api/csrf.py allows.
    # No /docs or /redoc: they run script from a CDN on our origin, next to staff sessions
    # (the Content-Security-Policy refuses it anyway); /openapi.json describes the API.
    # No OpenTelemetry: metrics are Prometheus' (api/metrics.py); FastAPI's check for OTel providers
    # cost ~13 µs on every request (measured on the OCSP hot path, issue #18).
    app = FastAPI(title="certdesk", version="0.1.0", docs_url=None, redoc_url=None,
                  dependencies=[csrf.guard((STAFF, CUSTOMER)), nul_guard.guard()],
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.settings = settings
    app.state.engine = engine_for(settings.resolved_database_url)
    totp.configure(app.state.engine, settings)  # the OTP login (store.totp.check_code) opens secrets with it
    pki.install_memory(app, settings)  # OCSP from memory, inside SecurityHeaders (its answers carry them)
    app.add_middleware(SecurityHeaders, production=settings.production)
    # Outermost: times every answer; the listener on CERTDESK_API_METRICS_ADDRESS.
    app.state.metrics_port = metrics.install(app, settings.api_metrics_address, settings.log_format)
    app.state.temporal = TemporalHandle(settings, temporal_client)
    app.state.processes = Processes(app.state.temporal, settings)

    app.include_router(pki.router)
    app.include_router(staff_sessions.router)
    app.include_router(tasks.router)
    app.include_router(audit.router)
    app.include_router(customers.router)
    app.include_router(password_resets.router)
    app.include_router(login_handovers.router)
    app.include_router(profile.router)
    app.include_router(application_list.router)  # before applications: /account/applications/search
    app.include_router(applications.router)
    app.include_router(application_requests.router)
    app.include_router(new_application.router)  # 新規申請's pages
    app.include_router(coupons.router)  # クーポン管理
    app.include_router(renewals.router)
    app.include_router(contracts.router)
    app.include_router(contact_changes.router)
    app.include_router(domain_validations.router)
    app.include_router(dcv_email.router)
    app.include_router(vetting_desk.router)
    app.include_router(enrollments.router)
    app.include_router(oidc.router)  # OpenID Connect provider: discovery, JWKS, token, userinfo, clients (issue 19)
    app.include_router(tenant_devices.router)  # devices and the contract (L-4)
    app.include_router(end_user.router)
    app.include_router(downloads.router)  # 証明書/ステッカーダウンロード (S-8)
    app.include_router(seal.router)  # the Web ステッカー's public page and images
    errors.install(app)
    errors.install_login_redirects(app)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        parts = {"database": "ok", "temporal": "ok", "worker": "ok"}
        try:
            await asyncio.to_thread(ping, app.state.engine)
        except Exception as exc:  # noqa: BLE001 (any failure means unhealthy)
            log.warning("health: database: %s", type(exc).__name__)
            parts["database"] = "unavailable"
        try:
            if not await app.state.processes.worker_polling():
                parts["worker"] = "no worker polling the task queue"
        except Exception as exc:  # noqa: BLE001
            log.warning("health: temporal: %s", type(exc).__name__)
            parts["temporal"] = "unavailable"
            parts["worker"] = "unknown"
        healthy = all(v == "ok" for v in parts.values())
        return JSONResponse({"status": "ok" if healthy else "unavailable", **parts},
                            status_code=200 if healthy else 503)

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> HTMLResponse:
        return render(request, "home.html", dev_mailbox=_mailbox_enabled(settings),
                      dev_dns=dev_network is not None and not settings.production)

    if _mailbox_enabled(settings):
        _mount_dev_mailbox(app, settings.data_dir / "mailbox")
    if dev_network is not None and not settings.production:
        app.state.dev_network = dev_network
        app.include_router(dev_dns.router)
    return app


def _mailbox_enabled(settings: Settings) -> bool:
    # Only the embedded sink's mail is readable here, and never in production.
    return settings.embedded_smtp and not settings.production


def _mount_dev_mailbox(app: FastAPI, directory: Path) -> None:
    @app.get("/dev/mailbox", response_class=HTMLResponse)
    async def mailbox_page(request: Request) -> HTMLResponse:
        return render(request, "mailbox.html", mails=dev_mailbox.list_mail(directory))

    @app.get("/dev/mailbox/messages")
    async def mailbox_json() -> list[dict[str, object]]:
        return [
            {"id": m.id, "received_at": m.received_at.isoformat(), "from": m.sender, "to": m.recipients,
             "subject": m.subject, "body": m.body, "headers": m.headers}
            for m in dev_mailbox.list_mail(directory)
        ]

    @app.get("/dev/mailbox/{mail_id}", response_class=HTMLResponse)
    async def mail_page(request: Request, mail_id: str) -> HTMLResponse:
        mail = dev_mailbox.get_mail(directory, mail_id)
        if mail is None:
            raise ApiError(404, "not_found")
        return render(request, "mail.html", mail=mail)


