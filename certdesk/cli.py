"""The ``certdesk`` command: ``up`` runs the stack; the rest are operator tasks."""

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict

from sqlalchemy import Engine

from domain.settings import Settings, SettingsError, load_settings
from store import accounts
from store.db import engine_for, migrate


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="certdesk", description="certdesk: a CA's customer back office")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run Temporal (embedded unless --temporal), worker, API and mail sink")
    up.add_argument("--temporal", metavar="ADDRESS", help="use this Temporal cluster (host:port)")
    up.add_argument("--data-dir", help="where SQLite files, mail and logs live (default ./var)")

    sub.add_parser("migrate", help="bring the database schema up to date")

    tenant = sub.add_parser("tenant", help="relying websites of the login certificate service")
    tsub = tenant.add_subparsers(dest="action", required=True)
    tc = tsub.add_parser("create", help="create a tenant and print its API key (shown once)")
    tc.add_argument("name")
    tc.add_argument("--json", action="store_true")
    tk = tsub.add_parser("contract", help="show or set a tenant's contract: devices per user, login methods")
    tk.add_argument("name")
    tk.add_argument("--max-devices", type=int, help="devices a user may hold (1-100)")
    tk.add_argument("--login-methods", help="comma-separated: certificate,otp,certificate+otp")
    tk.add_argument("--json", action="store_true")
    tu = tsub.add_parser("unlock-otp", help="end a user's one-time password lock (after wrong codes), "
                                            "once support has confirmed who is asking")
    tu.add_argument("name", metavar="TENANT")
    tu.add_argument("user_id")
    tcl = tsub.add_parser("client", help="a tenant's OpenID Connect clients (its websites' logins)")
    tcl_sub = tcl.add_subparsers(dest="client_action", required=True)
    tca = tcl_sub.add_parser("add", help="register a client; prints its client id and secret (shown once)")
    tca.add_argument("name", metavar="TENANT")
    tca.add_argument("--redirect-uri", action="append", required=True, dest="redirect_uris")
    tca.add_argument("--scopes", default="openid profile email")
    tca.add_argument("--client-name", default="")
    tca.add_argument("--auth-method", default="client_secret_basic",
                     help="client_secret_basic, client_secret_post or private_key_jwt (with --jwks)")
    tca.add_argument("--jwks", metavar="FILE", help="the client's public keys (JWKS JSON) for private_key_jwt")
    tca.add_argument("--json", action="store_true")

    customer = sub.add_parser("customer", help="server certificate portal customers")
    csub = customer.add_subparsers(dest="action", required=True)
    cc = csub.add_parser("create", help="create a customer; prints its access key and initial password")
    cc.add_argument("--org", required=True)
    cc.add_argument("--email", required=True)
    cc.add_argument("--json", action="store_true")

    ca_cmd = sub.add_parser("ca", help="the certificate authority")
    casub = ca_cmd.add_subparsers(dest="action", required=True)
    cs = casub.add_parser("show", help="print the CA hierarchy (created on first use)")
    cs.add_argument("--json", action="store_true")

    cb = csub.add_parser("bind-cert", help="bind a login certificate to a customer as the second factor")
    cb.add_argument("access_key")
    cb.add_argument("serial", help="the login certificate's serial number (hex)")

    staff = sub.add_parser("staff", help="support staff accounts")
    ssub = staff.add_subparsers(dest="action", required=True)
    sc = ssub.add_parser("create", help="create a staff account; prints its password unless given")
    sc.add_argument("username")
    sc.add_argument("--role", required=True, choices=accounts.STAFF_ROLES)
    sc.add_argument("--password", help="use this password (12-128 characters) instead of a random one")
    sc.add_argument("--email", help="where task reminders and escalations are mailed")
    sc.add_argument("--json", action="store_true")
    su = ssub.add_parser("unlock", help="end a staff member's login lock (after wrong passwords) now")
    su.add_argument("username")
    cu = csub.add_parser("unlock", help="end a customer's login lock (after wrong passwords) now")
    cu.add_argument("access_key")
    return p


def _emit(as_json: bool, data: dict[str, object], text: str) -> None:
    print(json.dumps(data, ensure_ascii=False) if as_json else text)


def _tenant_contract(engine: Engine, args: argparse.Namespace) -> int:
    from domain import devices as device_rules
    from domain.messages import translator
    from store import devices

    methods = [m.strip() for m in args.login_methods.split(",") if m.strip()] if args.login_methods is not None \
        else None
    problems = device_rules.contract_problems(args.max_devices, methods)
    if problems:
        t = translator("en")
        for field, key in problems.items():
            print(f"certdesk: {field}: {t(key)}", file=sys.stderr)
        return 2
    try:
        contract = devices.set_contract_of(engine, args.name, accounts.OPERATOR, args.max_devices,
                                           tuple(dict.fromkeys(methods)) if methods is not None else None)
    except LookupError as exc:
        print(f"certdesk: {exc}", file=sys.stderr)
        return 1
    _emit(args.json, {"max_devices": contract.max_devices, "login_methods": list(contract.login_methods)},
          f"tenant {args.name!r}: up to {contract.max_devices} devices per user; login methods: "
          f"{', '.join(contract.login_methods)}")
    return 0


def _tenant_client_add(engine: Engine, args: argparse.Namespace) -> int:
    from pathlib import Path

    from domain.messages import translator
    from store import oidc
    from store.db import session_scope

    jwks = json.loads(Path(args.jwks).read_text()) if args.jwks else None
    with session_scope(engine) as s:
        tenant = oidc.tenant_by_name(s, args.name)
        if tenant is None:
            print(f"certdesk: no tenant named {args.name!r}", file=sys.stderr)
            return 1
        try:
            client, secret = oidc.add_client(s, int(tenant.id or 0), args.redirect_uris, name=args.client_name,
                                             scopes=args.scopes, auth_method=args.auth_method, jwks=jwks,
                                             actor=accounts.OPERATOR)
        except oidc.ClientRefused as refused:
            print(f"certdesk: {refused.field}: {translator('en')(refused.key)}", file=sys.stderr)
            return 2
        data = {"client_id": client.client_id, "client_secret": secret, "redirect_uris": client.redirect_uris,
                "scopes": client.scopes, "token_endpoint_auth_method": client.auth_method}
    _emit(args.json, data, f"client {data['client_id']} of tenant {args.name!r} registered"
          + (f"\nclient secret (shown once): {secret}" if secret else ""))
    return 0


def _tenant_unlock_otp(engine: Engine, args: argparse.Namespace) -> int:
    from store import totp
    from store.db import session_scope

    try:
        with session_scope(engine) as s:
            was_locked = totp.unlock_user(s, args.name, args.user_id, accounts.OPERATOR)
    except LookupError as exc:
        print(f"certdesk: {exc.args[0]}", file=sys.stderr)
        return 1
    print(f"user {args.user_id!r} of tenant {args.name!r}: one-time password "
          + ("unlocked" if was_locked else "was not locked"))
    return 0


async def _start_timer(settings: Settings, new: accounts.NewCustomer) -> bool:
    from processes.accounts import start_initial_password_timer
    from processes.client import Processes
    from processes.connection import TemporalHandle

    try:
        processes = Processes(TemporalHandle(settings), settings)
        await start_initial_password_timer(processes, new.id, new.password_version, new.password_expires_at)
        return True
    except Exception:  # noqa: BLE001 (Temporal down: `certdesk up` starts the timer on its next start)
        return False


def _ca_show(engine: Engine, settings: Settings, as_json: bool) -> int:
    from ca import authority
    from domain.pki import errors as pki_errors
    from store import certificates

    try:
        authority.ensure_hierarchy(engine, settings)
    except pki_errors.CaConfigurationError as exc:
        print(f"certdesk: {exc}", file=sys.stderr)
        return 1
    entries = certificates.describe_hierarchy(engine)
    if as_json:
        print(json.dumps([{**asdict(e), "not_before": e.not_before.isoformat(), "not_after": e.not_after.isoformat()}
                          for e in entries], ensure_ascii=False))
        return 0
    for e in entries:
        print(f"{e.name}\n  subject    {e.subject}\n  issuer     {e.issuer}\n  serial     {e.serial}\n"
              f"  validity   {e.not_before:%Y-%m-%d %H:%M} – {e.not_after:%Y-%m-%d %H:%M} UTC\n  SHA-256    {e.sha256}")
    return 0


def main(argv: list[str] | None = None) -> int:
    code = run(argv)
    if _temporal_used:
        # The Temporal client's Rust threads can outlive the event loop and abort CPython's
        # finalization ("PyGILState_Release", temporalio/sdk-python#300): end without it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


_temporal_used = False


def run(argv: list[str] | None = None) -> int:
    global _temporal_used
    args = _parser().parse_args(argv)
    _temporal_used = args.command in ("up", "customer")
    if args.command == "up":
        if args.temporal:
            os.environ["CERTDESK_TEMPORAL_ADDRESS"] = args.temporal
        if args.data_dir:
            os.environ["CERTDESK_DATA_DIR"] = args.data_dir
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"certdesk: {exc}", file=sys.stderr)
        return 2

    if args.command == "up":
        from certdesk.stack import up

        return up(settings)

    engine = engine_for(settings.resolved_database_url)
    migrate(engine)  # idempotent; operator commands work on a fresh data directory too
    if args.command == "migrate":
        print("certdesk: database schema is up to date")
        return 0
    try:
        if args.command == "tenant" and args.action == "client":
            return _tenant_client_add(engine, args)
        if args.command == "tenant" and args.action == "unlock-otp":
            return _tenant_unlock_otp(engine, args)
        if args.command == "tenant" and args.action == "contract":
            return _tenant_contract(engine, args)
        if args.command == "tenant":
            _, key = accounts.create_tenant(engine, args.name)
            _emit(args.json, {"api_key": key}, f"tenant {args.name!r} created\nAPI key (shown once): {key}")
        elif args.command in ("staff", "customer") and args.action == "unlock":
            name = args.username if args.command == "staff" else args.access_key
            was_locked = accounts.unlock(engine, args.command, name)
            print(f"{args.command} {name!r} unlocked" if was_locked else f"{args.command} {name!r} was not locked")
        elif args.command == "customer" and args.action == "bind-cert":
            accounts.bind_client_certificate(engine, args.access_key, args.serial)
            print(f"certificate {args.serial} bound to customer {args.access_key}")
        elif args.command == "customer":
            new = accounts.create_customer(engine, args.org, args.email, settings.initial_password_ttl)
            timer = asyncio.run(_start_timer(settings, new))
            _emit(args.json, {"access_key": new.access_key, "initial_password": new.initial_password},
                  f"customer created\naccess key: {new.access_key}\ninitial password (shown once): "
                  f"{new.initial_password}\nvalid until {new.password_expires_at:%Y-%m-%d %H:%M} UTC; "
                  "it must be changed at first login")
            if not timer:
                print("certdesk: Temporal is not reachable; the expiry timer starts with the next `certdesk up`",
                      file=sys.stderr)
        elif args.command == "ca":
            return _ca_show(engine, settings, args.json)
        elif args.command == "staff":
            password = accounts.create_staff(engine, args.username, args.role, args.password, args.email)
            shown = password if args.password is None else "(as given)"
            _emit(args.json, {"username": args.username, "password": password},
                  f"staff user {args.username!r} ({args.role}) created\npassword: {shown}")
    except accounts.AccountError as exc:
        print(f"certdesk: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
