"""DNS name rules for subscriber certificates (BR 7.1.4.2.1 / 7.1.2.7.12)."""

from __future__ import annotations

import ipaddress
import re
from functools import cache

from publicsuffixlist import PublicSuffixList

from domain.pki.errors import CsrError

FIELD = "dns_names"
_LDH_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Names that can never be validated publicly (RFC 6761, RFC 6762, RFC 8375, RFC 9476, ICANN .internal).
RESERVED_SUFFIXES = (
    "local",
    "internal",
    "localhost",
    "test",
    "example",
    "invalid",
    "home.arpa",
    "onion",
    "alt",
)


def _check_label(name: str, label: str) -> None:
    if not _LDH_LABEL.match(label):
        raise CsrError(
            FIELD,
            f"{name!r} is not a valid DNS name: label {label!r} must be 1-63 letters, digits or "
            "hyphens, not starting or ending with a hyphen",
            "label_invalid", name=name, label=label,
        )
    if label[2:4] == "--":
        # Reserved-LDH labels: only well-formed punycode A-labels are allowed.
        if not label.startswith("xn--"):
            raise CsrError(FIELD, f"{name!r} has a reserved label {label!r} ('--' in positions 3-4)", "reserved_label",
                           name=name, label=label)
        # Cheap A-label sanity (full IDNA2008 needs the idna package): the punycode must decode
        # to printable non-ASCII text and re-encode to the same label.
        try:
            decoded = label[4:].encode("ascii").decode("punycode")
            round_trips = decoded.encode("punycode") == label[4:].encode()
            valid = round_trips and not decoded.isascii() and decoded.isprintable()
        except UnicodeError:
            valid = False
        if not valid:
            raise CsrError(FIELD, f"{name!r} has an invalid internationalised label {label!r}", "invalid_idn_label",
                           name=name, label=label)


def normalise_dns_name(raw: str) -> str:
    """Validates one SAN dNSName (wildcards allowed) and returns its lowercase form."""
    name = raw.strip().lower()
    if not name:
        raise CsrError(FIELD, "an empty DNS name is not allowed", "empty_name")
    if not name.isascii():
        raise CsrError(FIELD, f"{raw!r} contains non-ASCII characters; use the punycode (xn--) form", "non_ascii",
                       name=raw)
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise CsrError(FIELD, f"{raw!r} is an IP address; only DNS names are accepted", "ip_address", name=raw)
    if len(name) > 253:
        raise CsrError(FIELD, f"{raw!r} is longer than 253 characters", "name_too_long", name=raw)
    if name.endswith("."):
        raise CsrError(FIELD, f"{raw!r} must not end with a dot", "trailing_dot", name=raw)
    labels = name.split(".")
    wildcard = labels[0] == "*"
    base = labels[1:] if wildcard else labels
    if "*" in ".".join(base):
        raise CsrError(FIELD, f"{raw!r}: a wildcard must be the whole leftmost label, as in *.example.com",
                       "wildcard_position", name=raw)
    for label in base:
        _check_label(raw, label)
    if len(base) < 2:
        if wildcard:
            # A one-label base is always a TLD (*.com); deeper suffixes are checked against the PSL below.
            raise CsrError(FIELD, f"{raw!r}: a wildcard directly under a top-level domain is not allowed",
                           "wildcard_on_tld", name=raw)
        raise CsrError(FIELD, f"{raw!r} is a single-label (internal) name; a fully qualified name is needed",
                       "single_label", name=raw)
    if base[-1].isdigit():
        raise CsrError(FIELD, f"{raw!r} has an all-numeric top-level domain", "numeric_tld", name=raw)
    base_name = ".".join(base)
    for suffix in RESERVED_SUFFIXES:
        if base_name == suffix or base_name.endswith("." + suffix):
            raise CsrError(FIELD, f"{raw!r} is under the reserved domain .{suffix} and cannot be certified",
                           "reserved_domain", name=raw, suffix=suffix)
    psl = _public_suffixes()
    if psl.publicsuffix(base_name, accept_unknown=False) is None:
        raise CsrError(FIELD, f"{raw!r} does not end in a public top-level domain (internal name?)", "not_public_tld",
                       name=raw)
    if psl.is_public(base_name):
        if wildcard:
            raise CsrError(FIELD, f"{raw!r}: a wildcard directly on the public suffix {base_name!r} is not allowed",
                           "wildcard_on_public_suffix", name=raw, suffix=base_name)
        raise CsrError(FIELD, f"{raw!r} is a public suffix, not a registrable domain", "public_suffix", name=raw)
    return name


@cache
def _public_suffixes() -> PublicSuffixList:
    # ICANN section only: BR 3.2.2.6 speaks of registry-controlled labels, not private suffixes.
    # The list ships with the package (a pkilint dependency), so nothing is fetched at runtime.
    return PublicSuffixList(only_icann=True)
