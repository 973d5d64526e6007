"""Input that must not be stored as sent (issue 14, finding 4): CSRs, e-mail addresses, the
login certificate's name, and one open enrollment per tenant and user."""

import asyncio
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from api.app import create_app
from ca import authority
from domain.email_address import NotAnEmailAddress, normalise_email
from domain.enrollment import ENDED
from domain.pki.csr import parse_csr
from domain.pki.errors import CsrError
from domain.profile import field_errors, validate
from domain.settings import Settings
from store import accounts
from store.db import session_scope
from store.models import Application, Enrollment
from tests.conftest import smtp_sink  # noqa: F401 (the activity test's sink)
from tests.test_applications import Portal, _apply, portal  # noqa: F401 (fixture)
from tests.test_certificate_authority import make_csr

CSR = make_csr("www.example.co.jp", "example.co.jp")
OTHER = make_csr("www.google.com")


# --- CSRs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    CSR + "trailing junk",
    CSR + "\n" + OTHER,  # two CSRs: the second must never ride along
    "junk before\n" + CSR,
    CSR.replace("REQUEST-----\n", "REQUEST-----\nProc-Type: 4,ENCRYPTED\n\n", 1),
    CSR.replace("-----END CERTIFICATE REQUEST-----", "-----END CERTIFICATE-----"),
    CSR.replace("\n", "\n!", 2),
    CSR + "\x00",
])
def test_anything_but_one_pem_block_is_refused(text: str) -> None:
    with pytest.raises(CsrError) as refused:
        parse_csr(text)
    assert refused.value.field == "csr"


def test_whitespace_around_is_allowed_and_the_canonical_pem_is_kept() -> None:
    checked = parse_csr("\r\n  " + CSR.replace("\n", "\r\n") + "\n\n\t")
    assert checked.pem == CSR.strip() + "\n" and checked.dns_names == ["www.example.co.jp", "example.co.jp"]


async def test_an_application_stores_only_the_canonical_csr(portal: Portal, engine: Engine) -> None:  # noqa: F811
    junk = await _apply(portal, csr=CSR + "\n" + OTHER)
    assert junk.status_code == 422 and junk.json()["fields"][0]["field"] == "csr.csr", junk.text
    with session_scope(engine) as s:
        assert s.exec(select(Application)).all() == []
    sent = "\n\n  " + CSR.replace("\n", "\r\n") + "   \n"
    created = await _apply(portal, csr=sent)
    assert created.status_code == 201, created.text
    with session_scope(engine) as s:
        stored = s.get(Application, created.json()["id"])
        assert stored is not None and stored.csr_pem == CSR.strip() + "\n"


# --- e-mail addresses -----------------------------------------------------------------------------

BAD_EMAILS = [
    "a\x00@example.jp", "a@example.jp\x00", "a@x,postmaster", "a@example.jp,postmaster@example.jp",
    "x<attacker@evil.example>", "Yamada <yamada@example.jp>", "\"Yamada\" <yamada@example.jp>",
    "a@example.jp\r\nBcc: b@evil.example", "a@example.jp\nx", "a b@example.jp", "a@example.jp; b@example.jp",
    "@example.jp", "a@", "a", "a@example", "a@example.c", "a@[127.0.0.1]", "\"a b\"@example.jp",
    "a@localhost", "a@foo.test", "a\u202e@example.jp", "a@exam\u200bple.jp", "ä@example.jp",
    "a" * 250 + "@example.jp",
]


@pytest.mark.parametrize("address", BAD_EMAILS)
def test_one_plain_address_or_nothing(address: str) -> None:
    with pytest.raises(NotAnEmailAddress):
        normalise_email(address)


def test_addresses_are_normalised() -> None:
    assert normalise_email(" ｙａｍａｄａ＠ＥＸＡＭＰＬＥ．ｃｏ．ｊｐ ") == "yamada@example.co.jp"
    assert normalise_email("Yamada.Taro+cert@Example.JP") == "Yamada.Taro+cert@example.jp"


@pytest.mark.parametrize("address", ["a@x,postmaster", "x<attacker@evil.example>", "a\x00@example.jp"])
def test_the_profile_uses_the_same_rule(address: str) -> None:
    doc = {"organization": {"name": "A", "state": "東京都", "locality": "渋谷区"},
           "contacts": {"technical": {"name": "山田", "phone": "03-1234-5678", "email": address}}}
    with pytest.raises(Exception) as refused:
        validate(doc)
    assert [(e.field, e.code) for e in field_errors(refused.value)] in (
        [("contacts.technical.email", "email")], [("contacts.technical.email", "control_characters")])
    doc["contacts"]["technical"]["email"] = "ＩＴ＠Example.JP"
    assert validate(doc).document()["contacts"]["technical"]["email"] == "IT@example.jp"


# --- invitations: the address, the certificate name, one open enrollment -------------------------

@pytest.fixture
async def tenant_api(local_stack: Settings, engine: Engine) -> AsyncIterator[tuple[httpx.AsyncClient, dict]]:
    authority.ensure_hierarchy(engine, local_stack)
    _, key = accounts.create_tenant(engine, "Example Shop")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(local_stack)),
                                 base_url="http://certdesk.test") as http:
        yield http, {"authorization": f"Bearer {key}"}


def _rows(engine: Engine) -> list[Enrollment]:
    with session_scope(engine) as s:
        return list(s.exec(select(Enrollment)).all())


NAME_REFUSALS = [
    ("Yamada\u202eoraT", "invisible_characters"), ("Ya\u200bmada", "invisible_characters"),
    ("\ufeffYamada", "invisible_characters"), ("Ya\u2066mada\u2069", "invisible_characters"),
    ("Ya\u2060mada", "invisible_characters"), ("Ya\u200dmada", "invisible_characters"),
    ("Yamada\x00", "control_characters"), ("Yama\nda", "control_characters"),
    ("Yama\u2028da", "control_characters"), ("Yama\x7fda", "control_characters"), ("   ", "required"),
]


async def test_invitations_refuse_bad_addresses_and_names_by_field(tenant_api: tuple, engine: Engine) -> None:
    http, tenant = tenant_api
    base = {"user_id": "u-1", "email": "u-1@example.jp", "name": "Yamada Taro"}
    for address in BAD_EMAILS:
        answer = await http.post("/api/v1/enrollments", headers=tenant, json={**base, "email": address})
        assert answer.status_code == 422, (address, answer.text)
        assert [f["field"] for f in answer.json()["fields"]] == ["email"]
    for name, _code in NAME_REFUSALS:
        for language, word in (("ja", "文字"), ("en", "character")):
            answer = await http.post("/api/v1/enrollments", headers={**tenant, "accept-language": language},
                                     json={**base, "name": name})
            assert answer.status_code == 422, (name, answer.text)
            fields = answer.json()["fields"]
            assert [f["field"] for f in fields] == ["name"]
            assert word in fields[0]["message"] or _code == "required", (name, language, fields)
    assert _rows(engine) == []  # nothing stored, nothing started

    decomposed = "Jose\u0301 ｶﾀｶﾅ"
    ok = await http.post("/api/v1/enrollments", headers=tenant,
                         json={**base, "name": f"  {decomposed} ", "email": "Ｕ-1@Example.JP"})
    assert ok.status_code == 201, ok.text
    (row,) = _rows(engine)
    assert row.certificate_name == unicodedata.normalize("NFC", decomposed) and row.email == "U-1@example.jp"


async def test_eight_concurrent_invitations_leave_one_open_enrollment(tenant_api: tuple, engine: Engine,
                                                                       local_env) -> None:  # type: ignore[no-untyped-def]
    http, tenant = tenant_api
    body = {"user_id": "u-race", "email": "race@example.jp", "name": "Race"}
    answers = await asyncio.gather(*(http.post("/api/v1/enrollments", headers=tenant, json=body) for _ in range(8)))
    codes = sorted(a.status_code for a in answers)
    assert 201 in codes and set(codes) <= {201, 409}, [a.text for a in answers]
    assert all(a.json()["error"] == "invitation_in_progress" for a in answers if a.status_code == 409)
    made = {a.json()["id"] for a in answers if a.status_code == 201}
    # Every invitation answered 201 has its row; those refused left none.
    assert {r.public_id for r in _rows(engine)} == made
    # Replaced ones end; exactly one stays open, in the database and in Temporal.
    for _ in range(100):
        open_rows = [r for r in _rows(engine) if r.state not in ENDED]
        if len(open_rows) == 1 and len(made) - 1 == sum(r.state == "replaced" for r in _rows(engine)):
            break
        await asyncio.sleep(0.1)
    assert len(open_rows) == 1, [(r.public_id, r.state) for r in _rows(engine)]
    # A replaced run mirrors its row, then completes: its workflow may close a moment after the row says so.
    for _ in range(100):
        running = [r for r in _rows(engine)
                   if (await local_env.client.get_workflow_handle(r.workflow_id).describe()).status.name == "RUNNING"]
        if [r.public_id for r in running] == [open_rows[0].public_id]:
            break
        await asyncio.sleep(0.1)
    assert [r.public_id for r in running] == [open_rows[0].public_id]
    # A later invitation still replaces the open one.
    again = await http.post("/api/v1/enrollments", headers=tenant, json=body)
    assert again.status_code == 201, again.text
    for _ in range(100):
        if [r.public_id for r in _rows(engine) if r.state not in ENDED] == [again.json()["id"]]:
            break
        await asyncio.sleep(0.1)
    assert [r.public_id for r in _rows(engine) if r.state not in ENDED] == [again.json()["id"]]


def test_a_stored_bad_recipient_is_never_mailed(settings: Settings, engine: Engine,
                                                smtp_sink: tuple[int, Path]) -> None:  # noqa: F811
    from activities.context import ActivityContext
    from activities.mail import MailActivities, MailRequest
    from store import dev_mailbox

    mail = MailActivities(ActivityContext(settings, engine))
    # Not sent, and not a failure that would end the process that wanted to mail.
    assert mail.send_email(MailRequest("test:bad", "a@example.jp,postmaster@example.jp", "login_download_guide")) \
        is False
    assert dev_mailbox.list_mail(smtp_sink[1]) == []
