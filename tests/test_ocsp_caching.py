"""OCSP responses signed ahead and served with RFC 5019 caching headers; never "good" once revoked."""

import base64
from collections.abc import Iterator
from datetime import timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest
from cryptography import x509
from cryptography.x509 import ocsp
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select

from ca import authority
from domain.settings import Settings
from store import ocsp_cache, ocsp_responder
from store.db import session_scope
from store.models import OcspResponseRecord, utcnow
from tests.browser import serve
from tests.test_certificate_authority import SUBJECT, make_csr
from tests.test_ocsp_responder import _request


@pytest.fixture
def responder(settings: Settings, engine: Engine) -> Iterator[tuple[str, Settings]]:
    settings = settings.model_copy(update={"public_url": "http://pki.certdesk-test.com",
                                           "ca_passphrase": SecretStr("ocsp caching passphrase")})
    authority.ensure_hierarchy(engine, settings)
    with serve(settings) as base:
        yield base, settings


def _stored(engine: Engine, serial: str) -> OcspResponseRecord | None:
    with session_scope(engine) as s:
        return s.exec(select(OcspResponseRecord).where(OcspResponseRecord.serial == serial)).first()


def test_issuance_presigns_and_get_and_post_carry_rfc5019_headers(responder: tuple[str, Settings],
                                                                  engine: Engine) -> None:
    base, settings = responder
    issued = authority.issue_server(engine, settings, "app:cache", make_csr("cache.example.co.jp"), SUBJECT, 90, "t")
    stored = _stored(engine, issued.serial)
    assert stored is not None and stored.status == "good"  # signed with the certificate, before any request
    request = _request(engine, issued.pem)
    with httpx.Client(base_url=base, timeout=10) as http:
        post = http.post("/ocsp", content=request, headers={"content-type": "application/ocsp-request"})
        get = http.get(f"/ocsp/{base64.b64encode(request).decode()}")
        for r in (post, get):
            assert r.status_code == 200 and r.content == stored.der
            response = ocsp.load_der_ocsp_response(r.content)
            assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
            cache_control = r.headers["cache-control"]
            assert "public" in cache_control and "no-store" not in cache_control
            max_age = int(cache_control.split("max-age=")[1].split(",")[0])
            # Until half the validity: the response is refreshed then.
            validity = response.next_update_utc - response.this_update_utc + timedelta(seconds=1)
            assert 0 < max_age <= (validity / 2).total_seconds()
            assert parsedate_to_datetime(r.headers["last-modified"]) == response.this_update_utc
            assert parsedate_to_datetime(r.headers["expires"]) == response.next_update_utc
            assert r.headers["etag"] == post.headers["etag"]
        again = http.get(f"/ocsp/{base64.b64encode(request).decode()}",
                         headers={"if-none-match": post.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        nonce = http.post("/ocsp", content=_request(engine, issued.pem, nonce=True))
        assert nonce.headers["cache-control"] == "no-cache" and "etag" not in nonce.headers
        echoed = ocsp.load_der_ocsp_response(nonce.content).extensions.get_extension_for_class(x509.OCSPNonce)
        assert echoed.value.nonce == b"0123456789abcdef"
        unknown = http.post("/ocsp", content=_request(engine, issued.pem, int(issued.serial, 16) + 1))
        assert ocsp.load_der_ocsp_response(unknown.content).certificate_status == ocsp.OCSPCertStatus.UNKNOWN
        assert unknown.headers["cache-control"] == "no-cache"
    assert _stored(engine, format(int(issued.serial, 16) + 1, "x")) is None  # random serials fill no table


def test_a_revoked_certificate_is_never_good_from_a_stored_response(responder: tuple[str, Settings],
                                                                   engine: Engine) -> None:
    base, settings = responder
    issued = authority.issue_server(engine, settings, "app:revoke", make_csr("gone.example.co.jp"), SUBJECT, 90, "t")
    good = _stored(engine, issued.serial)
    assert good is not None
    authority.revoke(engine, settings, "server-ca", issued.serial, "keyCompromise", "staff:sato")
    presigned = _stored(engine, issued.serial)
    assert presigned is not None and presigned.status == "revoked"
    # Another web process that read "good" before the commit writes its answer back afterwards.
    with session_scope(engine) as s:
        row = s.get(OcspResponseRecord, ("server-ca", issued.serial))
        assert row is not None
        row.status, row.der, row.produced_at, row.refresh_after = "good", good.der, good.produced_at, \
            good.refresh_after
        s.add(row)
    with httpx.Client(base_url=base, timeout=10) as http:
        for _ in range(2):
            r = http.post("/ocsp", content=_request(engine, issued.pem))
            answer = ocsp.load_der_ocsp_response(r.content)
            assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
            assert answer.revocation_reason == x509.ReasonFlags.key_compromise
    assert _stored(engine, issued.serial).status == "revoked"  # type: ignore[union-attr]


def test_a_response_past_half_its_validity_is_signed_again(responder: tuple[str, Settings], engine: Engine) -> None:
    _, settings = responder
    issued = authority.issue_server(engine, settings, "app:stale", make_csr("stale.example.co.jp"), SUBJECT, 90, "t")
    request = _request(engine, issued.pem)
    first = ocsp_responder.respond(engine, settings, request)
    assert first.der == _stored(engine, issued.serial).der  # type: ignore[union-attr]
    later = utcnow() + ocsp_responder.VALIDITY / 2 + timedelta(minutes=1)
    refreshed = ocsp_responder.respond(engine, settings, request, now=later)
    assert refreshed.der != first.der and refreshed.this_update == later.replace(microsecond=0)
    assert ocsp.load_der_ocsp_response(refreshed.der).this_update_utc == later.replace(microsecond=0)
    assert _stored(engine, issued.serial).der == refreshed.der  # type: ignore[union-attr]


def test_fresh_signatures_are_rate_limited(responder: tuple[str, Settings], engine: Engine,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _, settings = responder
    issued = authority.issue_server(engine, settings, "app:rate", make_csr("rate.example.co.jp"), SUBJECT, 90, "t")
    bucket = ocsp_responder._Bucket(rate=1e-9, burst=1)  # one signature, then one in 30 years
    monkeypatch.setattr(ocsp_responder, "_fresh_signatures", bucket)
    with_nonce = ocsp.load_der_ocsp_response(ocsp_responder.answer(engine, settings,
                                                                   _request(engine, issued.pem, nonce=True)))
    assert with_nonce.extensions.get_extension_for_class(x509.OCSPNonce)
    # Over the rate: the pre-signed response, without the nonce (RFC 5019 responders ignore nonces) ...
    stored = ocsp_responder.answer(engine, settings, _request(engine, issued.pem, nonce=True))
    assert stored == _stored(engine, issued.serial).der  # type: ignore[union-attr]
    # ... and a serial never issued is not signed at all.
    unknown = ocsp_responder.answer(engine, settings, _request(engine, issued.pem, int(issued.serial, 16) + 1))
    assert ocsp.load_der_ocsp_response(unknown).response_status == ocsp.OCSPResponseStatus.TRY_LATER


# --- the memory of pre-signed responses (store/ocsp_cache.py, api/pki.py OcspFromMemory) ----------

def _served_from_memory(engine: Engine) -> int:
    return sum(c.hits for c in ocsp_cache.LIVE if c.engine.url == engine.url)


def test_a_revocation_by_the_worker_is_served_at_once_by_every_web_process(responder: tuple[str, Settings],
                                                                           engine: Engine) -> None:
    base, settings = responder
    issued = authority.issue_server(engine, settings, "app:mem", make_csr("mem.example.co.jp"), SUBJECT, 90, "t")
    request = _request(engine, issued.pem)
    encoded = base64.b64encode(request).decode()
    with serve(settings) as other, httpx.Client(timeout=10) as http:
        for url in (base, other):  # two create_app instances, as two uvicorn processes: two memories
            first = http.post(f"{url}/ocsp", content=request)
            hits = _served_from_memory(engine)
            second = http.post(f"{url}/ocsp", content=request)
            got = http.get(f"{url}/ocsp/{encoded}")
            assert _served_from_memory(engine) == hits + 2  # both from memory
            assert first.content == second.content == got.content
            assert second.headers["etag"] == first.headers["etag"]
            assert "public" in second.headers["cache-control"] and second.headers["x-content-type-options"]
            assert "content-security-policy" in second.headers  # SecurityHeaders wraps the hot path
            not_modified = http.get(f"{url}/ocsp/{encoded}", headers={"if-none-match": first.headers["etag"]})
            assert not_modified.status_code == 304 and not_modified.content == b""
        # The worker's activity calls this (activities/applications.py revoke_application_certificate).
        authority.revoke(engine, settings, "server-ca", issued.serial, "keyCompromise", "staff:sato")
        for url in (base, other):
            for r in (http.post(f"{url}/ocsp", content=request), http.get(f"{url}/ocsp/{encoded}")):
                answer = ocsp.load_der_ocsp_response(r.content)
                assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
                assert r.headers["etag"] != first.headers["etag"]


def _entry(der: bytes, serial: int, refresh_in: timedelta = timedelta(days=2)) -> ocsp_cache.Entry:
    return ocsp_cache.Entry(der, b'"e"', [], utcnow() + refresh_in, serial)


def test_memory_hits_misses_evictions_and_refresh_point(responder: tuple[str, Settings], engine: Engine) -> None:
    cache = ocsp_cache.OcspCache(engine, size=2)
    try:
        version = cache.check()
        assert cache.get("a") is None and cache.misses == 1
        for key in ("a", "b"):
            assert cache.put(key, _entry(key.encode(), 1), version)
        assert cache.get("a").der == b"a" and cache.hits == 1  # type: ignore[union-attr]
        cache.put("c", _entry(b"c", 1), version)  # over the size: the least recently used ("b") goes
        assert cache.evictions == 1 and cache.get("b") is None and cache.get("a") is not None
        cache.put("old", _entry(b"old", 1, refresh_in=timedelta(seconds=-1)), version)
        assert cache.get("old") is None  # past its refresh point: the next answer signs again
    finally:
        cache.close()


def test_a_fill_that_raced_a_revocation_is_not_kept(responder: tuple[str, Settings], engine: Engine) -> None:
    _, settings = responder
    issued = authority.issue_server(engine, settings, "app:race", make_csr("race.example.co.jp"), SUBJECT, 90, "t")
    serial = int(issued.serial, 16)
    cache = ocsp_cache.OcspCache(engine, size=10)
    try:
        before = cache.check()  # a miss read the database ("good") ...
        cache.put("kept", _entry(b"good", serial), before)
        authority.revoke(engine, settings, "server-ca", issued.serial, "superseded", "staff:sato")
        # ... the revocation committed before the answer went into memory: it is not kept, and
        # what memory held for the serial is dropped at the next check.
        assert not cache.put("late", _entry(b"good", serial), before)
        assert cache.get("kept") is None and cache.invalidations == 1
        assert cache.put("other", _entry(b"other", serial + 1), before)  # another serial: kept
        assert cache.put("after", _entry(b"revoked", serial), cache.check())
    finally:
        cache.close()
