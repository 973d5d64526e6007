"""Domain control validation helpers: names, URLs, addresses, ADN coverage and Random Value checks."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime

import pytest

from domain.vetting.dcv import (
    CAA_METHOD_LABELS,
    RANDOM_VALUE_BITS,
    RANDOM_VALUE_BYTES,
    Method,
    authorization_domain,
    constructed_addresses,
    covers,
    dns_record_name,
    file_matches,
    file_url,
    method_allows,
    method_retired,
    txt_matches,
    valid_random_value,
)

DNS, HTTP, EMAIL = Method.DNS_CHANGE, Method.HTTP_FILE, Method.CONSTRUCTED_EMAIL


@pytest.mark.parametrize(
    ("fqdn", "adn"),
    [
        ("www.example.com", "www.example.com"),
        ("*.example.com", "example.com"),
        (" *.Example.COM. ", "example.com"),
    ],
)
def test_authorization_domain(fqdn: str, adn: str) -> None:
    assert authorization_domain(fqdn) == adn


@pytest.mark.parametrize(
    ("domain", "label", "name"),
    [
        ("example.com", None, "_certdesk-challenge.example.com"),
        ("*.Example.com", None, "_certdesk-challenge.example.com"),
        ("www.example.com", "_acme-challenge", "_acme-challenge.www.example.com"),
    ],
)
def test_dns_record_name(domain: str, label: str | None, name: str) -> None:
    assert (dns_record_name(domain) if label is None else dns_record_name(domain, label)) == name


@pytest.mark.parametrize("label", ["certdesk", "_", "_a.b", "_-x", "_x-", "_X"])
def test_dns_record_name_needs_one_underscore_label(label: str) -> None:
    with pytest.raises(ValueError, match="starting with '_'"):
        dns_record_name("example.com", label)


@pytest.mark.parametrize(
    ("domain", "port", "url"),
    [
        ("www.example.com", 80, "http://www.example.com/.well-known/pki-validation/abc123.txt"),
        ("WWW.Example.com.", 80, "http://www.example.com/.well-known/pki-validation/abc123.txt"),
        ("www.example.com", 443, "http://www.example.com:443/.well-known/pki-validation/abc123.txt"),
    ],
)
def test_file_url(domain: str, port: int, url: str) -> None:
    assert file_url(domain, "abc123.txt", port) == url


def test_file_url_default_port_is_80() -> None:
    assert file_url("example.com", "f") == "http://example.com/.well-known/pki-validation/f"


@pytest.mark.parametrize(
    ("domain", "file_name", "port"),
    [
        ("*.example.com", "abc.txt", 80),
        ("example.com", "abc.txt", 8080),
        ("example.com", "", 80),
        ("example.com", "../abc", 80),
        ("example.com", "a/b", 80),
        ("example.com", "a?b=1", 80),
        ("example.com", ".hidden", 80),
    ],
)
def test_file_url_refuses(domain: str, file_name: str, port: int) -> None:
    with pytest.raises(ValueError):
        file_url(domain, file_name, port)


def test_constructed_addresses() -> None:
    assert constructed_addresses("*.Example.com") == (
        "admin@example.com",
        "administrator@example.com",
        "webmaster@example.com",
        "hostmaster@example.com",
        "postmaster@example.com",
    )


@pytest.mark.parametrize(
    ("method", "fqdn", "refusal"),
    [
        (HTTP, "*.example.com", "method_no_wildcard"),
        (HTTP, "www.example.com", None),
        (DNS, "*.example.com", None),
        (EMAIL, "*.example.com", None),
        (DNS, "example.com", None),
    ],
)
def test_method_allows(method: Method, fqdn: str, refusal: str | None) -> None:
    assert method_allows(method, fqdn) == refusal


@pytest.mark.parametrize(
    ("method", "issued_on", "retired"),
    [
        (EMAIL, date(2028, 3, 14), False),
        (EMAIL, date(2028, 3, 15), True),
        (EMAIL, datetime(2028, 3, 14, 23, 59, 59, tzinfo=UTC), False),
        (DNS, date(2040, 1, 1), False),
        (HTTP, date(2040, 1, 1), False),
    ],
)
def test_method_retired(method: Method, issued_on: date, retired: bool) -> None:
    assert method_retired(method, issued_on) is retired


@pytest.mark.parametrize(
    ("method", "validated", "fqdn", "covered"),
    [
        (DNS, "example.com", "example.com", True),
        (DNS, "example.com", "www.example.com", True),
        (DNS, "example.com", "a.b.example.com", True),
        (DNS, "example.com", "*.example.com", True),
        (DNS, "example.com", "*.sub.example.com", True),
        (DNS, "Example.COM.", "WWW.example.com", True),
        (DNS, "*.example.com", "www.example.com", True),
        (DNS, "sub.example.com", "*.example.com", False),
        (DNS, "www.example.com", "example.com", False),
        (DNS, "example.com", "badexample.com", False),
        (DNS, "example.com", "example.org", False),
        # Pruning stops at the Base Domain Name: a public suffix validates nothing.
        (DNS, "co.uk", "example.co.uk", False),
        (DNS, "com", "example.com", False),
        (DNS, "example.co.uk", "www.example.co.uk", True),
        (EMAIL, "example.com", "www.example.com", True),
        (EMAIL, "example.com", "*.example.com", True),
        (EMAIL, "co.jp", "example.co.jp", False),
        # The website method: exactly the FQDN that served the file.
        (HTTP, "www.example.com", "www.example.com", True),
        (HTTP, "www.example.com", "WWW.EXAMPLE.COM.", True),
        (HTTP, "example.com", "www.example.com", False),
        (HTTP, "example.com", "*.example.com", False),
        (HTTP, "*.example.com", "example.com", False),
        (DNS, "", "example.com", False),
    ],
)
def test_covers(method: Method, validated: str, fqdn: str, covered: bool) -> None:
    assert covers(method, validated, fqdn) is covered


VALUE = "Sln3rQosHauXuh1D5TU5kg"


@pytest.mark.parametrize(
    ("records", "value", "matches"),
    [
        ([VALUE], VALUE, True),
        ([f"  {VALUE}\n"], VALUE, True),
        (["v=spf1 -all", VALUE], VALUE, True),
        ([f"x{VALUE}"], VALUE, False),
        ([VALUE.lower()], VALUE, False),
        ([], VALUE, False),
        ([""], "", False),
        ([VALUE], f" {VALUE} ", True),
    ],
)
def test_txt_matches(records: list[str], value: str, matches: bool) -> None:
    assert txt_matches(records, value) is matches


@pytest.mark.parametrize(
    ("body", "value", "matches"),
    [
        (VALUE, VALUE, True),
        (f"{VALUE}\n", VALUE, True),
        (f"customer=42\ntoken={VALUE}\n", VALUE, True),
        (VALUE[:-1], VALUE, False),
        ("", VALUE, False),
        ("anything", "", False),
    ],
)
def test_file_matches(body: str, value: str, matches: bool) -> None:
    assert file_matches(body, value) is matches


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (VALUE, True),
        ("A" * 22, True),
        ("A" * 21, False),
        ("A" * 128, True),
        ("A" * 129, False),
        (VALUE + "==", False),
        ("abc+def/ghijklmnopqrstuv", False),
        ("", False),
        (f"{VALUE} ", False),
    ],
)
def test_valid_random_value(value: str, valid: bool) -> None:
    assert valid_random_value(value) is valid


def test_generated_values_are_valid_and_strong_enough() -> None:
    assert RANDOM_VALUE_BYTES * 8 >= RANDOM_VALUE_BITS == 112
    assert all(valid_random_value(secrets.token_urlsafe(RANDOM_VALUE_BYTES)) for _ in range(200))


def test_caa_method_labels() -> None:
    assert CAA_METHOD_LABELS == {DNS: "ca-tbr-7", HTTP: "ca-tbr-18", EMAIL: "ca-tbr-4"}
