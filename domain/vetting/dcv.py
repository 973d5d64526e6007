"""Domain control validation (BR 3.2.2.4, TLS BR v2.3.0): the three methods certdesk offers.

The Authorization Domain Name (ADN) rules are those of ballot SC-101 (v2.2.9, required from
2026-11-15): the table in 3.2.2.4 says per method whether a wildcard may be validated and whether
the ADN may be pruned toward the Base Domain Name. certdesk never takes the optional CNAME step,
so its ADN is always the name itself or a parent of it.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from enum import StrEnum
from functools import cache

from publicsuffixlist import PublicSuffixList

from domain.vetting.periods import utc_day


class Method(StrEnum):
    DNS_CHANGE = "dns_change"  # 3.2.2.4.7 DNS Change
    HTTP_FILE = "http_file"  # 3.2.2.4.18 Agreed-Upon Change to Website v2
    CONSTRUCTED_EMAIL = "constructed_email"  # 3.2.2.4.4 Email to a Constructed Address


BR_SECTION = {
    Method.DNS_CHANGE: "3.2.2.4.7",
    Method.HTTP_FILE: "3.2.2.4.18",
    Method.CONSTRUCTED_EMAIL: "3.2.2.4.4",
}
# CAA validationmethods labels for methods outside the IANA ACME registry (BR 4.2.2.1.2).
CAA_METHOD_LABELS = {method: f"ca-tbr-{section.rsplit('.', 1)[1]}" for method, section in BR_SECTION.items()}

# The ADN table's Wildcard and Prune columns carry the same checks for these three methods.
_WILDCARD_AND_PRUNE = frozenset({Method.DNS_CHANGE, Method.CONSTRUCTED_EMAIL})

# BR 3.2.2.4.4: SHOULD NOT be used from 2026-03-15; from 2028-03-15 the CA MUST NOT rely on it and
# earlier validations by it MUST NOT be used to issue. (method, first issuance date it is dead)
RETIRED_FROM = {Method.CONSTRUCTED_EMAIL: date(2028, 3, 15)}
DISCOURAGED_FROM = {Method.CONSTRUCTED_EMAIL: date(2026, 3, 15)}

CONSTRUCTED_LOCAL_PARTS = ("admin", "administrator", "webmaster", "hostmaster", "postmaster")
WELL_KNOWN_PATH = "/.well-known/pki-validation/"
AUTHORIZED_PORTS = frozenset({80, 443, 25, 22})  # BR 1.6.1 "Authorized Ports"

# BR 1.6.1: a Random Value has at least 112 bits of entropy. certdesk's activity draws 16 bytes
# (128 bits) with secrets.token_urlsafe(16): 22 characters of unpadded URL-safe base64.
RANDOM_VALUE_BITS = 112
RANDOM_VALUE_BYTES = 16
_RANDOM_VALUE_MIN_CHARS = -(-RANDOM_VALUE_BYTES * 8 // 6)  # 6 bits a character, rounded up
_RANDOM_VALUE = re.compile(rf"[A-Za-z0-9_-]{{{_RANDOM_VALUE_MIN_CHARS},128}}")
_UNDERSCORE_LABEL = re.compile(r"_[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_FILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


def authorization_domain(fqdn: str) -> str:
    """The name validation starts from: the FQDN itself, or a wildcard's name without ``*.``."""
    name = fqdn.strip().lower().rstrip(".")
    return name[2:] if name.startswith("*.") else name


def dns_record_name(domain: str, label: str = "_certdesk-challenge") -> str:
    """Where the TXT record goes: the ADN prefixed with a label that begins with "_" (3.2.2.4.7 (2))."""
    if not _UNDERSCORE_LABEL.fullmatch(label):
        raise ValueError(f"the challenge label must be one DNS label starting with '_': {label!r}")
    return f"{label}.{authorization_domain(domain)}"


def file_url(domain: str, file_name: str, port: int = 80) -> str:
    """The URL the CA fetches (3.2.2.4.18); ``file_name`` must not contain the Random Value itself."""
    if domain.strip().startswith("*"):
        raise ValueError("the website method cannot validate a wildcard name")
    if port not in AUTHORIZED_PORTS:
        raise ValueError(f"port {port} is not an Authorized Port ({sorted(AUTHORIZED_PORTS)})")
    if not _FILE_NAME.fullmatch(file_name):
        raise ValueError(f"not a plain file name: {file_name!r}")
    host = authorization_domain(domain) + ("" if port == 80 else f":{port}")
    return f"http://{host}{WELL_KNOWN_PATH}{file_name}"


def validation_file_name(random_value: str) -> str:
    """The website method's file: named after the value, never the value itself (3.2.2.4.18:
    the value is in the content)."""
    return f"certdesk-{hashlib.sha256(random_value.encode()).hexdigest()[:16]}.txt"


def constructed_addresses(domain: str) -> tuple[str, ...]:
    """The five addresses 3.2.2.4.4 allows, at the ADN."""
    adn = authorization_domain(domain)
    return tuple(f"{local}@{adn}" for local in CONSTRUCTED_LOCAL_PARTS)


def method_allows(method: Method, fqdn: str) -> str | None:
    """Why ``method`` cannot validate ``fqdn`` (a refusal code), or None."""
    if fqdn.strip().startswith("*.") and method not in _WILDCARD_AND_PRUNE:
        return "method_no_wildcard"
    return None


def method_retired(method: Method, issued_on: date | datetime) -> bool:
    """True when validations by ``method`` may no longer back a certificate issued on that day."""
    retired = RETIRED_FROM.get(method)
    return retired is not None and utc_day(issued_on) >= retired


@cache
def _public_suffixes() -> PublicSuffixList:
    # ICANN section only, as BR 3.2.2.6 advises; the list ships with the package.
    return PublicSuffixList(only_icann=True)


def covers(method: Method, validated_domain: str, fqdn: str) -> bool:
    """Does a validation of ``validated_domain`` (the ADN) by ``method`` vouch for ``fqdn``?

    DNS change and constructed email may prune labels from the name down to its Base Domain Name,
    so a validated parent covers its subdomains and the wildcards below it, but nothing at or above
    a public suffix. The website method neither prunes nor takes wildcards: it covers exactly the
    FQDN whose web server served the file.
    """
    adn = authorization_domain(validated_domain)
    wildcard = fqdn.strip().startswith("*.")
    name = authorization_domain(fqdn)
    if not adn or not name:
        return False
    if method not in _WILDCARD_AND_PRUNE:
        return not wildcard and not validated_domain.strip().startswith("*") and name == adn
    if name != adn and not name.endswith("." + adn):
        return False
    base_domain = _public_suffixes().privatesuffix(name)
    return base_domain is not None and (adn == base_domain or adn.endswith("." + base_domain))


def txt_matches(records: list[str], value: str) -> bool:
    """True when one TXT record (its strings already joined) is exactly the Random Value."""
    expected = value.strip()
    return bool(expected) and any(record.strip() == expected for record in records)


def file_matches(body: str, value: str) -> bool:
    """True when the Random Value is contained in the file's content (3.2.2.4.18)."""
    expected = value.strip()
    return bool(expected) and expected in body


def valid_random_value(value: str) -> bool:
    """The form certdesk issues: unpadded URL-safe base64 of at least 16 bytes (22 to 128 characters)."""
    return bool(_RANDOM_VALUE.fullmatch(value))
