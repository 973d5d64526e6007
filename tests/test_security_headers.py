"""Security headers (issue 14, finding 7) on every answer of both apps, walked from their route
tables: a Content-Security-Policy without inline script, no framing, nosniff, a Referrer-Policy,
no-store on everything personal (desk, staff API, portal, the tenant's OTP answer), HSTS only in
production; what relying parties fetch (/pki, /ocsp) keeps its own caching.
"""

import re
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from api.app import create_app
from ca import authority
from domain.pki.hierarchy import CRL_ISSUERS, PUBLISHED_CAS
from domain.settings import Settings
from tests.login_service import Service
from tests.test_csrf import BASE, World, _cookie_header, concrete, world  # noqa: F401

RELYING_PARTIES = ("/pki/", "/ocsp", "/oidc/jwks")  # the JWKS: public keys, cached a few minutes


def _get_routes(app: FastAPI) -> list[str]:
    return sorted({str(route.path) for route in iter_route_contexts(app.routes) if "GET" in (route.methods or set())})


async def _get(app: FastAPI, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        return await http.get(path, headers={"accept": "text/html", **(headers or {})})


def _problems(path: str, r: httpx.Response) -> list[str]:
    found = []
    csp = r.headers.get("content-security-policy", "")
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'",
                      "object-src 'none'", "base-uri 'none'"):
        if directive not in csp:
            found.append(f"CSP lacks {directive}")
    if "unsafe-inline" in csp or "unsafe-eval" in csp:
        found.append("CSP allows inline code")
    if r.headers.get("x-content-type-options") != "nosniff":
        found.append("no nosniff")
    if r.headers.get("referrer-policy") not in ("same-origin", "no-referrer"):
        found.append(f"Referrer-Policy {r.headers.get('referrer-policy')}")
    if "strict-transport-security" in r.headers:
        found.append("HSTS outside production")
    if not path.startswith(RELYING_PARTIES) and r.headers.get("cache-control") != "no-store":
        found.append(f"Cache-Control {r.headers.get('cache-control')}")
    if r.headers.get("content-type", "").startswith("text/html"):
        nonce = re.search(r"'nonce-([^']+)'", csp)
        styles = re.findall(r"<style([^>]*)>", r.text)
        if styles and (not nonce or any(f'nonce="{nonce.group(1)}"' not in attrs for attrs in styles)):
            found.append("an inline style without this answer's nonce")
        if re.search(r"<script|javascript:|\son[a-z]+=", r.text, re.IGNORECASE):
            found.append("inline script in the page")
        # Under no-referrer browsers send "Origin: null" with the page's forms: api/csrf.py refuses them.
        policies = r.headers.get("referrer-policy", "") + "".join(re.findall(r'<meta name="referrer"[^>]*>', r.text))
        if "<form" in r.text and "no-referrer" in policies:
            found.append("a form under no-referrer")
    return [f"{path} ({r.status_code}): {p}" for p in found]


async def test_every_get_route_of_both_apps_carries_the_headers(world: World) -> None:  # noqa: F811
    opened = world.sessions()
    problems, pages = [], 0
    for app in (world.app, world.account_app):
        for template in _get_routes(app):
            for cookie in ({}, {"cookie": _cookie_header(opened)}):  # the login redirect, and the page itself
                r = await _get(app, concrete(template), cookie)
                pages += r.headers.get("content-type", "").startswith("text/html") and r.status_code == 200
                problems += _problems(template, r)
    assert problems == []
    assert pages >= 15  # real pages were looked at, not only redirects and refusals


async def test_desk_pages_and_staff_api_are_not_stored(world: World) -> None:  # noqa: F811
    cookie = {"cookie": _cookie_header(world.sessions())}
    for path in ("/desk", "/desk/audit", "/api/v1/tasks", "/api/v1/audit", "/account", "/account/applications",
                 "/api/v1/account/profile"):
        r = await _get(world.app, path, cookie)
        assert r.status_code == 200, (path, r.status_code)
        assert r.headers["cache-control"] == "no-store", path


async def test_pages_with_a_token_in_their_link_never_send_it_to_another_site(world: World) -> None:  # noqa: F811
    # Not no-referrer: under it browsers send "Origin: null" with the page's own forms (test_browser_enrollment).
    for path in ("/enroll/unknown-token", "/dcv/unknown-token"):
        assert (await _get(world.app, path)).headers["referrer-policy"] == "same-origin", path


async def test_relying_parties_keep_their_caching(world: World) -> None:  # noqa: F811
    authority.ensure_hierarchy(world.engine, world.settings)
    for name in PUBLISHED_CAS:
        r = await _get(world.app, f"/pki/{name}.crt")
        assert (r.status_code, r.headers["cache-control"]) == (200, "public, max-age=86400"), name
    for name in CRL_ISSUERS:
        authority.publish_crl(world.engine, world.settings, name)
        r = await _get(world.app, f"/pki/{name}.crl")
        assert (r.status_code, r.headers["cache-control"]) == (200, "public, max-age=60"), name
        assert "last-modified" in r.headers
    ocsp = await _get(world.app, "/ocsp/MAA=")
    assert (ocsp.headers["content-type"], ocsp.headers["cache-control"]) == ("application/ocsp-response", "no-cache")


async def test_hsts_only_in_production(settings: Settings, tmp_path: Path) -> None:
    production = settings.model_copy(update={"production": True})
    for app, expected in ((create_app(settings), None), (create_app(production), "max-age=31536000")):
        assert (await _get(app, "/pki/none.crt")).headers.get("strict-transport-security") == expected


async def test_the_tenant_answer_with_the_otp_is_not_stored(service: Service) -> None:  # noqa: F811
    answer = await service.http.post("/api/v1/enrollments", headers=service.tenant,
                                      json={"user_id": "u-1", "email": "u-1@example.jp", "name": "Yamada Taro"})
    assert answer.status_code == 201 and answer.json()["one_time_password"]
    assert answer.headers["cache-control"] == "no-store"
