"""The network look-ups of domain validation and CAA, against real servers on loopback:
an authoritative DNS server (dnslib, UDP and TCP) and an HTTP/HTTPS server."""

import socket
import time

import pytest

from activities.lookups import (
    MAX_BODY,
    MAX_REDIRECTS,
    FetchResult,
    LookupFailed,
    RedirectRefused,
    caa_records,
    fetch_validation_file,
    parse_address,
    resolver_for,
    txt_records,
)
from domain.vetting.caa import CaaRecord
from tests.conftest import free_port
from tests.dns_server import Zone
from tests.http_server import Site

T = 2.0  # seconds; a loopback answer takes milliseconds
FILE = "/.well-known/pki-validation/certdesk.txt"


# --- the resolver -----------------------------------------------------------------------


def test_resolver_asks_the_given_address_and_keeps_nothing() -> None:
    resolver = resolver_for("127.0.0.1:5353", 1.5)
    assert resolver.nameservers == ["127.0.0.1"] and resolver.port == 5353
    assert resolver.lifetime == resolver.timeout == 1.5
    assert resolver.cache is None
    assert parse_address("[::1]:53") == ("::1", 53)
    assert parse_address("192.0.2.1") == ("192.0.2.1", 53)


def test_a_changed_record_is_seen_at_once(dns_zone: Zone) -> None:
    dns_zone.txt("_certdesk-challenge.example.com", "first")
    assert txt_records("_certdesk-challenge.example.com", dns_zone.address, T) == ["first"]
    dns_zone.clear("_certdesk-challenge.example.com")
    dns_zone.txt("_certdesk-challenge.example.com", "second")
    assert txt_records("_certdesk-challenge.example.com", dns_zone.address, T) == ["second"]


# --- TXT ----------------------------------------------------------------------------------


def test_txt_found(dns_zone: Zone) -> None:
    dns_zone.txt("_certdesk-challenge.example.com", "token-1", "other")
    assert sorted(txt_records("_certdesk-challenge.example.com.", dns_zone.address, T)) == ["other", "token-1"]


def test_txt_absent_is_empty(dns_zone: Zone) -> None:
    dns_zone.a("www.example.com", "192.0.2.1")
    assert txt_records("nowhere.example.com", dns_zone.address, T) == []  # NXDOMAIN
    assert txt_records("www.example.com", dns_zone.address, T) == []  # the name, no TXT
    assert txt_records("example.com", dns_zone.address, T) == []  # an empty non-terminal


def test_txt_strings_of_one_record_are_joined(dns_zone: Zone) -> None:
    dns_zone.txt("multi.example.com", ["abc", "def", "ghi"])
    long = "x" * 300  # more than one character-string can hold: split in two
    dns_zone.txt("long.example.com", long)
    assert txt_records("multi.example.com", dns_zone.address, T) == ["abcdefghi"]
    assert txt_records("long.example.com", dns_zone.address, T) == [long]


def test_a_big_answer_comes_over_tcp(dns_zone: Zone) -> None:
    values = [f"{i:02d}" + "v" * 240 for i in range(10)]  # ~2.5 kB: truncated over UDP
    dns_zone.txt("big.example.com", *values)
    assert sorted(txt_records("big.example.com", dns_zone.address, T)) == values


def test_txt_follows_cname(dns_zone: Zone) -> None:
    dns_zone.cname("_certdesk-challenge.shop.example.com", "_certdesk-challenge.dcv.example.net")
    dns_zone.cname("_certdesk-challenge.dcv.example.net", "tokens.dcv.example.net")
    dns_zone.txt("tokens.dcv.example.net", "delegated-token")
    assert txt_records("_certdesk-challenge.shop.example.com", dns_zone.address, T) == ["delegated-token"]
    dns_zone.cname("dangling.example.com", "gone.example.net")
    assert txt_records("dangling.example.com", dns_zone.address, T) == []


@pytest.mark.parametrize(("fail", "reason"), [(Zone.servfail, "servfail"), (Zone.refused, "refused")])
def test_txt_server_failure_raises(dns_zone: Zone, fail, reason: str) -> None:
    fail(dns_zone, "broken.example.com")
    with pytest.raises(LookupFailed) as err:
        txt_records("broken.example.com", dns_zone.address, T)
    assert (err.value.name, err.value.reason) == ("broken.example.com", reason)
    dns_zone.clear("broken.example.com")
    assert txt_records("broken.example.com", dns_zone.address, T) == []


def test_txt_timeout_raises(dns_zone: Zone) -> None:
    dns_zone.silent("slow.example.com")
    start = time.monotonic()
    with pytest.raises(LookupFailed) as err:
        txt_records("slow.example.com", dns_zone.address, 0.3)
    assert err.value.reason == "timeout"
    assert time.monotonic() - start < 1.5


def test_nobody_listening_is_a_timeout_not_an_empty_answer() -> None:
    with pytest.raises(LookupFailed) as err:
        txt_records("example.com", f"127.0.0.1:{free_port()}", 0.3)
    assert err.value.reason in ("timeout", "network")


# --- CAA ----------------------------------------------------------------------------------


def test_caa_found_with_flags_and_tags(dns_zone: Zone) -> None:
    dns_zone.caa("example.com", 0, "issue", "certdesk.example; accounturi=https://certdesk.example/acct/7")
    dns_zone.caa("example.com", 0, "issuewild", ";")
    dns_zone.caa("example.com", 0, "iodef", "mailto:security@example.com")
    dns_zone.caa("example.com", 128, "tbs", "unknown critical")
    dns_zone.txt("example.com", "v=spf1 -all")  # another type at the same name: not returned
    assert sorted(caa_records("example.com", dns_zone.address, T), key=lambda r: r.tag) == [
        CaaRecord(0, "iodef", "mailto:security@example.com"),
        CaaRecord(0, "issue", "certdesk.example; accounturi=https://certdesk.example/acct/7"),
        CaaRecord(0, "issuewild", ";"),
        CaaRecord(128, "tbs", "unknown critical"),
    ]


def test_caa_follows_cname(dns_zone: Zone) -> None:
    dns_zone.cname("shop.example.com", "cdn.example.net")
    dns_zone.caa("cdn.example.net", 0, "issue", "other-ca.example")
    assert caa_records("shop.example.com", dns_zone.address, T) == [CaaRecord(0, "issue", "other-ca.example")]


def test_caa_empty_is_not_a_failure(dns_zone: Zone) -> None:
    dns_zone.txt("www.example.com", "hello")
    assert caa_records("www.example.com", dns_zone.address, T) == []
    assert caa_records("nowhere.example.com", dns_zone.address, T) == []


@pytest.mark.parametrize(("fail", "reason", "timeout"),
                         [(Zone.servfail, "servfail", T), (Zone.silent, "timeout", 0.3)])
def test_caa_failure_raises(dns_zone: Zone, fail, reason: str, timeout: float) -> None:
    dns_zone.caa("example.com", 0, "issue", "certdesk.example")
    fail(dns_zone, "example.com")
    with pytest.raises(LookupFailed) as err:
        caa_records("example.com", dns_zone.address, timeout)
    assert err.value.reason == reason


# --- the website file (BR 3.2.2.4.18) -----------------------------------------------------


def fetch(site: Site, path: str = FILE, timeout: float = T) -> FetchResult:
    return fetch_validation_file("127.0.0.1", path, site.port, timeout)


def test_file_found(http_site: Site) -> None:
    http_site.file(FILE, "random-value-123\n")
    result = fetch(http_site)
    assert result == FetchResult(200, b"random-value-123\n", http_site.url(FILE), (), False)


def test_file_missing_is_a_404_result(http_site: Site) -> None:
    result = fetch(http_site)
    assert result.status == 404 and result.redirects == ()


def test_only_the_validation_directory_is_asked() -> None:
    with pytest.raises(ValueError, match="pki-validation"):
        fetch_validation_file("127.0.0.1", "/index.html", 80, T)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_allowed_redirect_is_followed(http_site: Site, status: int) -> None:
    target = "/.well-known/pki-validation/moved.txt"
    http_site.redirect(FILE, http_site.url(target), status)
    http_site.file(target, "moved-value")
    result = fetch(http_site)
    assert (result.status, result.body) == (200, b"moved-value")
    assert result.final_url == http_site.url(target)
    assert result.redirects == (http_site.url(target),)


def test_relative_location_resolves_against_the_request(http_site: Site) -> None:
    http_site.redirect(FILE, "/elsewhere/file.txt", 301)
    http_site.file("/elsewhere/file.txt", "value")
    result = fetch(http_site)
    assert result.body == b"value" and result.final_url == http_site.url("/elsewhere/file.txt")


def test_redirect_to_https_is_followed(http_site: Site) -> None:
    http_site.redirect(FILE, http_site.url("/secure.txt", scheme="https"), 301)
    http_site.file("/secure.txt", "over-tls")
    result = fetch(http_site)
    assert (result.status, result.body) == (200, b"over-tls")
    assert result.final_url.startswith("https://")
    assert http_site.requests == [("http", FILE), ("https", "/secure.txt")]


def test_redirect_to_an_authorized_web_port_is_allowed(http_site: Site) -> None:
    """Port 80 on loopback: followed (whatever then answers there, or nobody)."""
    http_site.redirect(FILE, "http://127.0.0.1:80/.well-known/pki-validation/x", 302)
    try:
        result = fetch(http_site, timeout=1)
    except RedirectRefused:
        pytest.fail("a redirect to port 80 must be followed")
    except LookupFailed as exc:
        assert exc.name == "http://127.0.0.1/.well-known/pki-validation/x"
        assert exc.reason in ("network", "timeout")
    else:
        assert result.redirects == ("http://127.0.0.1/.well-known/pki-validation/x",)


@pytest.mark.parametrize("status", [300, 303, 304, 305, 306])
def test_other_3xx_is_not_followed(http_site: Site, status: int) -> None:
    http_site.redirect(FILE, "/elsewhere.txt", status)
    http_site.file("/elsewhere.txt", "value")
    with pytest.raises(RedirectRefused) as err:
        fetch(http_site)
    assert err.value.reason == "redirect_status"
    assert http_site.requests == [("http", FILE)]


@pytest.mark.parametrize("location", ["ftp://127.0.0.1/file.txt", "file:///etc/passwd", "gopher://127.0.0.1:70/"])
def test_redirect_to_another_scheme_is_refused(http_site: Site, location: str) -> None:
    http_site.redirect(FILE, location, 302)
    with pytest.raises(RedirectRefused) as err:
        fetch(http_site)
    assert err.value.reason == "redirect_scheme"


@pytest.mark.parametrize("port", [8080, 22, 25, 8443])
def test_redirect_to_another_port_is_refused(http_site: Site, port: int) -> None:
    http_site.redirect(FILE, f"http://127.0.0.1:{port}/.well-known/pki-validation/x", 302)
    with pytest.raises(RedirectRefused) as err:
        fetch(http_site)
    assert err.value.reason == "redirect_port"
    assert http_site.requests == [("http", FILE)]


def test_redirect_without_location_is_refused(http_site: Site) -> None:
    http_site.file(FILE, "", status=302)
    with pytest.raises(RedirectRefused) as err:
        fetch(http_site)
    assert err.value.reason == "redirect_location"


def _chain(site: Site, hops: int) -> None:
    paths = [FILE] + [f"/hop/{i}" for i in range(1, hops + 1)]
    for here, there in zip(paths, paths[1:], strict=False):
        site.redirect(here, there, 302)
    site.file(paths[-1], "end of the chain")


def test_redirects_up_to_the_limit_are_followed(http_site: Site) -> None:
    _chain(http_site, MAX_REDIRECTS)
    result = fetch(http_site)
    assert result.body == b"end of the chain" and len(result.redirects) == MAX_REDIRECTS


def test_too_many_redirects_are_refused(http_site: Site) -> None:
    _chain(http_site, MAX_REDIRECTS + 1)
    with pytest.raises(RedirectRefused) as err:
        fetch(http_site)
    assert err.value.reason == "too_many_redirects"
    assert len(http_site.requests) == MAX_REDIRECTS + 1


def test_a_redirect_loop_ends(http_site: Site) -> None:
    http_site.redirect(FILE, FILE, 307)
    with pytest.raises(RedirectRefused, match="too_many_redirects"):
        fetch(http_site)


def test_body_is_capped(http_site: Site) -> None:
    http_site.file(FILE, b"a" * (4 * MAX_BODY))
    result = fetch(http_site)
    assert result.status == 200 and len(result.body) == MAX_BODY and result.truncated


def test_nobody_listening_raises() -> None:
    with pytest.raises(LookupFailed) as err:
        fetch_validation_file("127.0.0.1", FILE, free_port(), T)
    assert err.value.reason == "network"


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # the kernel accepts the connection; nobody ever answers
        start = time.monotonic()
        with pytest.raises(LookupFailed) as err:
            fetch_validation_file("127.0.0.1", FILE, listener.getsockname()[1], 0.3)
    assert err.value.reason == "timeout"
    assert time.monotonic() - start < 1.5
