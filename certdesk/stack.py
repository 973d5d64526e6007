"""``certdesk up``: the whole embedded stack in one process tree, stopped cleanly by Ctrl-C.

Order matters: schema, Temporal, SMTP sink, development DNS zone and website (certdesk/dev_network.py),
worker, API, the account pages' HTTPS port; then timers
that should exist but do not (accounts created while Temporal was down) are started. Stopping runs
in reverse.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from datetime import timedelta

import uvicorn
from temporalio.service import RPCError

from ca import at_rest, authority
from certdesk import dev_network, mailbox, pidfile
from certdesk.client_cert_port import account_port_server
from certdesk.dev_server import start_dev_server
from certdesk.perspective import build_perspective_worker
from certdesk.servers import embedded_server, start
from certdesk.worker import build_worker, install_metrics_runtime
from domain.pki import errors as pki_errors
from domain.settings import Settings
from processes import contracts
from processes.accounts import start_initial_password_timer
from processes.client import Processes
from processes.connection import TemporalHandle, connect
from processes.schedules import ensure_crl_schedule, ensure_oidc_key_schedule
from store import accounts
from store import contracts as contract_records
from store.db import engine_for, migrate

LOCAL_PERSPECTIVES = "local-1,local-2,local-3,local-4,local-5"

def say(text: str) -> None:
    print(text, flush=True)


async def reconcile_timers(processes: Processes, settings: Settings) -> int:
    started = 0
    engine = engine_for(settings.resolved_database_url)
    for customer_id, version, expires_at in accounts.customers_awaiting_expiry(engine):
        started += await start_initial_password_timer(processes, customer_id, version, expires_at)
    # Contracts of certificates issued before contracts were kept, and any contract without its process.
    await asyncio.to_thread(contract_records.establish_missing, engine)
    for contract_id, code, customer_id in contract_records.live(engine):
        started += await contracts.start(processes, contract_id, code, customer_id)
    return started


async def run(settings: Settings) -> int:
    try:
        at_rest.prepare(settings)  # no passphrase in production: refuse; files 0600, folders 0700
    except pki_errors.CaConfigurationError as exc:
        say(f"certdesk: {exc}")
        return 1
    engine = engine_for(settings.resolved_database_url)
    await asyncio.to_thread(migrate, engine)
    say("certdesk: database schema is up to date")
    try:
        if await asyncio.to_thread(authority.ensure_hierarchy, engine, settings):
            say("certdesk: created the CA hierarchy (`certdesk ca show` lists it)")
        await asyncio.to_thread(authority.publish_missing_crls, engine, settings)
    except pki_errors.CaConfigurationError as exc:
        say(f"certdesk: {exc}")
        return 1
    host = authority.non_public_url_host(settings)
    if host:
        say(f"certdesk: warning: CERTDESK_PUBLIC_URL ({settings.resolved_public_url}) names {host!r}, which no "
            "publicly trusted certificate may carry in its CRL/OCSP URLs; fine for development, set a public "
            "URL in production")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    try:
        launcher = pidfile.claim(settings.data_dir)
    except pidfile.AlreadyRunning as other:
        say(f"certdesk: another `certdesk up` (pid {other.pid}) is running on {settings.data_dir}; stop it first")
        return 1
    temporal_pid = settings.data_dir / pidfile.TEMPORAL
    temporal_proc: subprocess.Popen[bytes] | None = None
    sink = None
    dev = contextlib.ExitStack()
    network = None
    try:
        if settings.embedded_temporal:
            # What a crashed run may have left (its server still holding the port and the database).
            left = pidfile.stop_leftover(temporal_pid, str((settings.data_dir / "temporal.db").resolve()))
            if left:
                say(f"certdesk: stopped the Temporal server a previous run left behind (pid {left})")
            temporal_proc = start_dev_server(settings)
            pidfile.write(temporal_pid, temporal_proc.pid)
        install_metrics_runtime(settings)  # CERTDESK_WORKER_METRICS_ADDRESS: before the first client
        try:
            client = await connect(settings, wait=timedelta(seconds=90))
        except RuntimeError as exc:
            say(f"certdesk: cannot reach Temporal at {settings.resolved_temporal_address}: {exc}")
            return 1
        await asyncio.sleep(0.5 if temporal_proc else 0)
        if temporal_proc is not None and temporal_proc.poll() is not None:
            # Something else answered on that port: never run against a stranger's server.
            say(f"certdesk: the embedded Temporal server exited (port {settings.temporal_port} in use?); "
                f"see {settings.data_dir / 'temporal.log'}")
            return 1
        if settings.embedded_smtp:
            try:
                sink = mailbox.start_sink(settings.data_dir / "mailbox", "127.0.0.1", settings.smtp_port)
            except OSError as exc:
                say(f"certdesk: the mail sink cannot listen on 127.0.0.1:{settings.smtp_port} ({exc.strerror}); "
                    "set CERTDESK_SMTP_PORT or CERTDESK_SMTP_HOST")
                return 1
        if dev_network.enabled(settings):
            try:
                settings, network = dev.enter_context(dev_network.serve_dev_network(settings))
            except OSError as exc:
                say(f"certdesk: the development DNS zone or website cannot listen on loopback ({exc.strerror}); "
                    "set CERTDESK_DEV_DNS_PORT or CERTDESK_DCV_HTTP_PORT")
                return 1

        if not settings.remote_perspective_names:
            # Development: the remote perspectives BR 3.2.2.9 asks for, all local (in production
            # each is `python -m certdesk.perspective NAME` in its own network).
            settings = settings.model_copy(update={"remote_perspectives": LOCAL_PERSPECTIVES})
        worker = build_worker(client, settings)
        perspectives = [build_perspective_worker(client, settings, n) for n in settings.remote_perspective_names]
        from api.app import create_app
        from api.login_account import create_account_app

        # Browsers connect to this port directly: a client-certificate header is never believed here
        # (issue 14), whatever CERTDESK_TRUSTED_PROXIES says. The account port uses its own handshake.
        browser_settings = settings.model_copy(update={"trusted_proxies": ""})
        server = embedded_server(uvicorn.Config(create_app(browser_settings, dev_network=network),
                                                host=settings.api_host,
                                                port=settings.api_port, log_level="warning", lifespan="on"))
        try:
            account_server = await asyncio.to_thread(account_port_server, create_account_app(settings), settings,
                                                     engine)
        except (RuntimeError, OSError) as exc:
            say(f"certdesk: cannot set up the account pages' HTTPS port: {exc}")
            return 1
        worker_task = asyncio.create_task(worker.run(), name="worker")
        perspective_tasks = [asyncio.create_task(p.run(), name=f"perspective-{n}")
                             for p, n in zip(perspectives, settings.remote_perspective_names, strict=True)]
        api_task = await start(server, "api")
        if api_task.done():
            say(f"certdesk: the API could not start on {settings.api_host}:{settings.api_port}")
            await worker.shutdown()
            return 1
        account_task = await start(account_server, "account")
        if account_task.done():
            problem = account_task.exception()
            say(f"certdesk: the account pages could not start on {settings.api_host}:{settings.tls_port}"
                + (f" ({problem})" if problem else " (port in use? set CERTDESK_TLS_PORT)"))
            server.should_exit = True
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await api_task
            await worker.shutdown()
            return 1

        processes = Processes(TemporalHandle(settings, client), settings)
        if await ensure_crl_schedule(processes):
            say("certdesk: scheduled CRL publication")
        if await ensure_oidc_key_schedule(processes):
            say("certdesk: scheduled OpenID Connect signing key rotation")
        started = await reconcile_timers(processes, settings)
        if started:
            say(f"certdesk: started {started} pending timer(s)")
        base = f"http://{settings.api_host}:{settings.api_port}"
        say(f"certdesk: web UI and API   {base}/   (health {base}/healthz)")
        say(f"certdesk: account pages (client certificate)   https://{settings.api_host}:{settings.tls_port}/account")
        if settings.embedded_temporal:
            say(f"certdesk: Temporal         {settings.resolved_temporal_address}   UI http://127.0.0.1:{settings.temporal_ui_port}/")
        else:
            say(f"certdesk: Temporal         {settings.resolved_temporal_address} (external)")
        if sink is not None:
            say(f"certdesk: mail sink        smtp://127.0.0.1:{settings.smtp_port}   read it at {base}/dev/mailbox")
        if network is not None:
            say(f"certdesk: DNS zone         {network.zone.address} (udp/tcp)   edit it at {base}/dev/dns")
            say(f"certdesk: /.well-known     http://127.0.0.1:{network.site.port}/   put files at {base}/dev/dns#files")
        say(f"certdesk: perspectives     primary + {', '.join(settings.remote_perspective_names)} "
            f"(DNS: {settings.dns_resolver or 'the system resolver'})")
        say("certdesk: ready. Ctrl-C stops everything.")

        done, _ = await asyncio.wait([asyncio.create_task(stop.wait()), worker_task, api_task, account_task],
                                     return_when=asyncio.FIRST_COMPLETED)
        say("certdesk: stopping")
        server.should_exit = account_server.should_exit = True
        if not worker_task.done():
            await worker.shutdown()
        for p, task in zip(perspectives, perspective_tasks, strict=True):
            if not task.done():
                await p.shutdown()
        for task in (api_task, account_task, worker_task, *perspective_tasks):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        return 0
    except RPCError as exc:
        say(f"certdesk: Temporal error: {exc}")
        return 1
    finally:
        dev.close()
        if sink is not None:
            sink.stop()
        if temporal_proc is not None:
            temporal_proc.terminate()
            try:
                await asyncio.to_thread(temporal_proc.wait, 20)
            except subprocess.TimeoutExpired:
                temporal_proc.kill()
            pidfile.remove(temporal_pid, temporal_proc.pid)
        pidfile.remove(launcher, os.getpid())
        say("certdesk: stopped")


def up(settings: Settings) -> int:
    try:
        return asyncio.run(run(settings))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(up(Settings()))
