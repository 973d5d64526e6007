"""CAA (RFC 8659, BR 3.2.2.8 / 4.2.2.1): which CAs a domain's owner allows to issue for it.

The RFC 8657 parameters of a record that names us are honoured (BR 3.2.2.8, ballot SC-098):
``accounturi`` limits it to one customer account, ``validationmethods`` to the domain validation
methods listed (certdesk's labels: ``domain.vetting.dcv.CAA_METHOD_LABELS``). A parameter the CA
cannot satisfy makes that record authorize nobody; unknown parameters are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class CaaRecord:
    """One CAA resource record as DNS gives it: flags (128 = critical), tag, value."""

    flags: int
    tag: str
    value: str


CRITICAL = 128  # RFC 8659 §4.1: bit 0, the most significant bit of the flags octet
# Tags certdesk understands (BR 4.2.2.1 requires issue, issuewild, iodef; BR A.1 adds the contact
# tags). iodef and the contacts never decide issuance; knowing them only matters for the critical flag.
KNOWN_TAGS = frozenset({"issue", "issuewild", "iodef", "contactemail", "contactphone"})

# RFC 8659 §4.2 issue-value ABNF, WSP = SP / HTAB.
_WSP = " \t"
_LABEL = r"[A-Za-z0-9](?:-*[A-Za-z0-9])*"
# A trailing dot is outside the ABNF, but it names the same domain, so it is accepted and dropped.
_ISSUER = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_PARAMETER = re.compile(rf"({_LABEL})[ \t]*=[ \t]*([\x21-\x3a\x3c-\x7e]*)")


@dataclass(frozen=True)
class IssueValue:
    """A parsed issue/issuewild value; ``issuer`` is "" when no CA may issue (``0 issue ";"``)."""

    issuer: str  # lowercase, no trailing dot
    parameters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CaaDecision:
    """Permitted: no_caa_records, no_issue_property, issuer_authorized (detail: the issuer).
    Refused: issue_forbidden (only empty or malformed issuers), issuer_not_authorized (detail: the
    issuers named), critical_unknown_tag (detail: the tag), parameters_not_met (detail: the RFC 8657
    parameters of our records that the request does not meet)."""

    permitted: bool
    reason: str
    detail: str = ""


def account_uri(public_url: str, customer_id: int) -> str:
    """The URI that names a customer's account in an ``accounturi`` parameter (RFC 8657 §3)."""
    return f"{public_url.rstrip('/')}/customers/{customer_id}"


def _domain(name: str) -> str:
    return name.strip().lower().rstrip(".")


def parse_issue_value(value: str) -> IssueValue:
    """Parses ``issuer.example; key=value; ...``; raises ValueError when the ABNF is not met."""
    head, semicolon, tail = value.partition(";")
    issuer = head.strip(_WSP)
    if issuer and not _ISSUER.fullmatch(issuer):
        raise ValueError(f"not an issuer domain name: {issuer!r}")
    parameters: list[tuple[str, str]] = []
    tail = tail.strip(_WSP)
    if semicolon and tail:
        for part in tail.split(";"):
            match = _PARAMETER.fullmatch(part.strip(_WSP))
            if match is None:
                raise ValueError(f"not a key=value parameter: {part!r}")
            parameters.append((match.group(1), match.group(2)))
    return IssueValue(_domain(issuer), tuple(parameters))


def relevant_records(fqdn: str, lookup: Callable[[str], list[CaaRecord]]) -> list[CaaRecord]:
    """The Relevant RRset (RFC 8659 §3): the first non-empty CAA RRset from the name up toward the root.

    A wildcard ``*.X`` is looked up at X. ``lookup`` returns [] for "no CAA records here" and raises
    for a failed lookup; the exception reaches the caller, who must not issue on it.
    """
    name = _domain(fqdn)
    if name.startswith("*."):
        name = name[2:]
    if not name or "*" in name:
        raise ValueError(f"not a domain name: {fqdn!r}")
    labels = name.split(".")
    # Up to, but not including, the root.
    for i in range(len(labels)):
        records = lookup(".".join(labels[i:]))
        if records:
            return list(records)
    return []


def _value_or_none(record: CaaRecord) -> IssueValue | None:
    # RFC 8659 §4.2: a malformed value is treated as an empty issuer, i.e. it authorizes nobody.
    try:
        return parse_issue_value(record.value)
    except ValueError:
        return None


def unmet_parameters(value: IssueValue, method_label: str | None, account_uri: str | None) -> list[str]:
    """The RFC 8657 parameters of ``value`` this request does not meet ([] when it meets them all)."""
    unmet = []
    for key, wanted in value.parameters:
        key = key.lower()
        if key == "accounturi" and wanted != account_uri:
            unmet.append(f"accounturi={wanted}")
        elif key == "validationmethods" and method_label not in {m.strip() for m in wanted.split(",")}:
            unmet.append(f"validationmethods={wanted}")
    return unmet


def evaluate(records: Iterable[CaaRecord], identities: Collection[str], wildcard: bool,
             method_label: str | None = None, account_uri: str | None = None) -> CaaDecision:
    """May a CA known by ``identities`` (its Issuer Domain Names) issue, given the Relevant RRset?

    ``method_label`` is how the name's domain control was validated (RFC 8657 label) and
    ``account_uri`` the applicant's account; None when unknown, which meets no such parameter.
    """
    rrset = list(records)
    if not rrset:
        return CaaDecision(True, "no_caa_records")
    for record in rrset:
        tag = record.tag.lower()  # RFC 8659 §4.1: matching of tags is case insensitive
        if record.flags & CRITICAL and tag not in KNOWN_TAGS:
            return CaaDecision(False, "critical_unknown_tag", record.tag)
    issue = [r for r in rrset if r.tag.lower() == "issue"]
    issuewild = [r for r in rrset if r.tag.lower() == "issuewild"]
    # RFC 8659 §4.3: issuewild speaks only for wildcard names, and there it overrides issue.
    relevant = (issuewild or issue) if wildcard else issue
    if not relevant:
        return CaaDecision(True, "no_issue_property")
    ours = {_domain(identity) for identity in identities}
    values = [v for v in map(_value_or_none, relevant) if v is not None and v.issuer]
    unmet: list[str] = []
    for value in values:
        if value.issuer in ours:
            if not (missing := unmet_parameters(value, method_label, account_uri)):
                return CaaDecision(True, "issuer_authorized", value.issuer)
            unmet += missing
    if unmet:
        return CaaDecision(False, "parameters_not_met", "; ".join(unmet))
    if not values:
        return CaaDecision(False, "issue_forbidden")
    return CaaDecision(False, "issuer_not_authorized", ", ".join(sorted({v.issuer for v in values})))
