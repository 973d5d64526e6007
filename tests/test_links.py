"""Every link a person can follow works: from the pages each kind of person (customer, staff,
visitor, login certificate user) starts at, every same-site link (``<a href>``, ``<link href>``,
``<img src>``, ``<script src>``, GET forms' actions) is fetched as that person, and none answers
400 or more except where that is the point.

The portal has data behind it (an issued contract, a revoked certificate), so the detail,
download and seal pages are reached the way a customer reaches them.
"""

import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from ca import authority
from domain.pki.hierarchy import TLS_CA
from store.db import session_scope
from store.models import Application
from tests.login_service import Service
from tests.test_contract_pages import PASSWORD, Portal, _client, _contract, portal  # noqa: F401 (fixture)
from tests.test_login_certificates import download_url_of, register, token_of

# Pages a person may reach by a link and that answer an error on purpose (digits read as N).
# /healthz says 503 while any part is not ready; the time-skipping server cannot describe a task
# queue, so here it never is (tests/test_health_and_pages.py checks it on the real server).
INTENDED: dict[str, int] = {"/healthz": 503}
MAX_PAGES = 400


class _Links(HTMLParser):
    """Links, and GET forms as a browser submits them untouched (each field's default value)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._form: tuple[str, list[tuple[str, str]]] | None = None
        self._select: tuple[str, str | None] | None = None  # name, the first or selected option's value

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.found.append(a["href"])
        elif tag in ("link", "img", "script") and (a.get("href") or a.get("src")):
            self.found.append(a.get("href") or a.get("src") or "")
        elif tag == "form" and a.get("method", "get").lower() == "get":
            self._form = (a.get("action", ""), [])
        elif self._form is not None and tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind not in ("submit", "button", "checkbox", "radio") or ("checked" in a and kind != "submit"):
                self._form[1].append((a["name"], a.get("value", "")))
        elif self._form is not None and tag == "select" and a.get("name"):
            self._select = (a["name"], None)
        elif self._select is not None and tag == "option":
            name, value = self._select
            if value is None or "selected" in a:
                self._select = (name, a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None and self._form is not None:
            self._form[1].append((self._select[0], self._select[1] or ""))
            self._select = None
        elif tag == "form" and self._form is not None:
            action, fields = self._form
            self.found.append(action + ("?" + urlencode(fields) if fields else ""))
            self._form = None


def _same_site(base: str, href: str) -> str | None:
    if href.startswith(("mailto:", "tel:", "javascript:", "#", "data:")):
        return None
    url = urlsplit(urljoin(base, href))
    if url.netloc and url.netloc != urlsplit(base).netloc:
        return None
    return url.path + (f"?{url.query}" if url.query else "")


async def _crawl(client: httpx.AsyncClient, seeds: list[str]) -> dict[str, int]:
    """Every same-site link reachable from ``seeds``: its status."""
    seen: dict[str, int] = {}
    queue = deque(seeds)
    while queue and len(seen) < MAX_PAGES:
        path = queue.popleft()
        if path in seen or "logout" in path:
            continue
        answer = await client.get(path)
        seen[path] = answer.status_code
        if answer.status_code in (301, 302, 303, 307, 308):
            target = _same_site(str(answer.url), answer.headers.get("location", ""))
            if target:
                queue.append(target)
            continue
        if "text/html" not in answer.headers.get("content-type", ""):
            continue
        parser = _Links()
        parser.feed(answer.text)
        for href in parser.found:
            target = _same_site(str(answer.url), href)
            if target and target not in seen:
                queue.append(target)
    return seen


def _broken(seen: dict[str, int]) -> dict[str, int]:
    return {path: status for path, status in seen.items()
            if status >= 400 and INTENDED.get(re.sub(r"\d+", "N", path)) != status}


async def test_no_link_a_customer_staff_or_visitor_follows_is_broken(portal: Portal) -> None:  # noqa: F811
    p = portal
    issued_id, _ = await _contract(p, "www.links.example.co.jp")
    revoked_id, _ = await _contract(p, "old.links.example.co.jp")
    with session_scope(p.engine) as s:
        serial = s.get(Application, revoked_id).certificate_serial
    authority.revoke(p.engine, p.settings, TLS_CA, serial, "cessationOfOperation", "test")

    customer = await _crawl(p.customer, ["/account", "/account/applications", f"/account/applications/{issued_id}",
                                         f"/account/applications/{revoked_id}"])
    assert f"/account/applications/{issued_id}" in customer and len(customer) > 10, customer
    assert _broken(customer) == {}

    async with _client(p.app) as staff:
        login = await staff.post("/desk/login", data={"username": "sato", "password": PASSWORD})
        assert login.status_code == 303
        desk = await _crawl(staff, ["/desk", "/desk/contracts", "/desk/audit"])
    assert len(desk) > 3 and _broken(desk) == {}

    async with _client(p.app) as visitor:
        public = await _crawl(visitor, ["/", "/login", "/password-reset", "/desk/login"])
    assert _broken(public) == {}


async def test_no_link_an_end_user_follows_is_broken(service: Service) -> None:
    """The login certificate user's pages: the invitation, the secret question, the download."""
    svc = service
    invitation = await svc.invite()
    enroll = "/enroll/" + token_of(invitation["enrollment_url"])
    before = await _crawl(svc.http, [enroll, "/help/download"])
    assert enroll in before and _broken(before) == {}
    await register(svc, invitation)
    download = "/download/" + download_url_of(await svc.wait_for_mail("電子証明書ダウンロードのご案内"))
    after = await _crawl(svc.http, [download, download + "/forgot"])
    assert download in after and _broken(after) == {}
