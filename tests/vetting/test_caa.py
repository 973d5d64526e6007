"""CAA per RFC 8659: issue-value syntax, the tree climb and the decision, with the RFC's own examples."""

from __future__ import annotations

import dataclasses

import pytest

from domain.vetting.caa import CaaDecision, CaaRecord, IssueValue, evaluate, parse_issue_value, relevant_records

OURS = frozenset({"ca.example"})


def test_caa_record_keeps_the_adapter_contract() -> None:
    # The DNS adapter builds these positionally and by name; the fields must not move.
    assert [f.name for f in dataclasses.fields(CaaRecord)] == ["flags", "tag", "value"]
    assert CaaRecord(128, "issue", "ca.example") == CaaRecord(flags=128, tag="issue", value="ca.example")


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("ca.example", IssueValue("ca.example")),
        (";", IssueValue("")),  # RFC 8659 §4.2: no CA may issue
        ("", IssueValue("")),
        ("  ca.example  ", IssueValue("ca.example")),
        ("\tca.example\t;\t", IssueValue("ca.example")),
        ("ca.example;", IssueValue("ca.example")),
        ("Ca1.Example.NET", IssueValue("ca1.example.net")),
        ("ca.example.", IssueValue("ca.example")),
        ("x--y.example", IssueValue("x--y.example")),
        ("ca1.example.net; account=230123", IssueValue("ca1.example.net", (("account", "230123"),))),
        ("ca.example;a=1;b = 2 ; c=", IssueValue("ca.example", (("a", "1"), ("b", "2"), ("c", "")))),
        (
            "ca.example; accounturi=https://ca.example/acct/1; validationmethods=dns-01,ca-tbr-7",
            IssueValue(
                "ca.example",
                (("accounturi", "https://ca.example/acct/1"), ("validationmethods", "dns-01,ca-tbr-7")),
            ),
        ),
        ("; account=1", IssueValue("", (("account", "1"),))),
    ],
)
def test_parse_issue_value(value: str, parsed: IssueValue) -> None:
    assert parse_issue_value(value) == parsed


@pytest.mark.parametrize(
    "value",
    [
        "%%%%%",  # the RFC's malformed example
        "ca example",
        "-ca.example",
        "ca-.example",
        "ca..example",
        "ca_x.example",
        "caé.example",
        "ca.example; a",
        "ca.example; =b",
        "ca.example; a=b;",
        "ca.example; a=b;;c=d",
        "ca.example; a=b c",
        "ca.example; a=b\u00a0",
    ],
)
def test_parse_issue_value_refuses_malformed(value: str) -> None:
    with pytest.raises(ValueError):
        parse_issue_value(value)


def fake_dns(zone: dict[str, list[CaaRecord]], asked: list[str]):
    def lookup(name: str) -> list[CaaRecord]:
        asked.append(name)
        return zone.get(name, [])

    return lookup


PARENT = [CaaRecord(0, "issue", "ca.example")]
CHILD = [CaaRecord(0, "issue", "other.example")]


@pytest.mark.parametrize(
    ("fqdn", "zone", "found", "asked"),
    [
        ("a.b.example.com", {"example.com": PARENT}, PARENT, ["a.b.example.com", "b.example.com", "example.com"]),
        ("b.example.com", {"example.com": PARENT, "b.example.com": CHILD}, CHILD, ["b.example.com"]),
        ("*.b.example.com", {"example.com": PARENT}, PARENT, ["b.example.com", "example.com"]),
        ("WWW.Example.COM.", {"example.com": PARENT}, PARENT, ["www.example.com", "example.com"]),
        # Up to, but not including, the root.
        ("www.example.com", {}, [], ["www.example.com", "example.com", "com"]),
        ("www.example.com", {"com": PARENT}, PARENT, ["www.example.com", "example.com", "com"]),
    ],
)
def test_relevant_records(
    fqdn: str, zone: dict[str, list[CaaRecord]], found: list[CaaRecord], asked: list[str]
) -> None:
    seen: list[str] = []
    assert relevant_records(fqdn, fake_dns(zone, seen)) == found
    assert seen == asked


def test_lookup_failure_reaches_the_caller() -> None:
    def failing(name: str) -> list[CaaRecord]:
        raise TimeoutError(f"SERVFAIL for {name}")

    with pytest.raises(TimeoutError):
        relevant_records("www.example.com", failing)


@pytest.mark.parametrize("fqdn", ["", ".", "*.", "a.*.example.com"])
def test_relevant_records_needs_a_name(fqdn: str) -> None:
    with pytest.raises(ValueError):
        relevant_records(fqdn, fake_dns({}, []))


def r(flags: int, tag: str, value: str) -> CaaRecord:
    return CaaRecord(flags, tag, value)


@pytest.mark.parametrize(
    ("records", "wildcard", "decision"),
    [
        ([], False, CaaDecision(True, "no_caa_records")),
        ([r(0, "issue", "ca.example")], False, CaaDecision(True, "issuer_authorized", "ca.example")),
        ([r(0, "ISSUE", "CA.example.")], False, CaaDecision(True, "issuer_authorized", "ca.example")),
        ([r(0, "issue", "ca.example; account=230123")], False, CaaDecision(True, "issuer_authorized", "ca.example")),
        # RFC 8659 §4.2 examples.
        ([r(0, "issue", ";")], False, CaaDecision(False, "issue_forbidden")),
        ([r(0, "issue", "%%%%%")], False, CaaDecision(False, "issue_forbidden")),
        (
            [r(0, "issue", "ca1.example.net"), r(0, "issue", "ca2.example.org")],
            False,
            CaaDecision(False, "issuer_not_authorized", "ca1.example.net, ca2.example.org"),
        ),
        (
            [r(0, "issue", ";"), r(0, "issue", "ca.example")],
            False,
            CaaDecision(True, "issuer_authorized", "ca.example"),
        ),
        (
            [r(0, "issue", "%%%%%"), r(0, "issue", "ca.example")],
            False,
            CaaDecision(True, "issuer_authorized", "ca.example"),
        ),
        # RFC 8659 §4.5 critical flag example, and a critical unknown tag on its own.
        (
            [r(0, "issue", "ca.example"), r(128, "tbs", "Unknown")],
            False,
            CaaDecision(False, "critical_unknown_tag", "tbs"),
        ),
        ([r(128, "tbs", "x")], False, CaaDecision(False, "critical_unknown_tag", "tbs")),
        ([r(128, "tbs", "x")], True, CaaDecision(False, "critical_unknown_tag", "tbs")),
        ([r(129, "Future", "x")], False, CaaDecision(False, "critical_unknown_tag", "Future")),
        # Unknown but not critical, or known and critical: no effect.
        ([r(0, "tbs", "x")], False, CaaDecision(True, "no_issue_property")),
        ([r(1, "tbs", "x"), r(0, "issue", "ca.example")], False, CaaDecision(True, "issuer_authorized", "ca.example")),
        ([r(128, "issue", "ca.example")], False, CaaDecision(True, "issuer_authorized", "ca.example")),
        ([r(128, "iodef", "mailto:security@example.com")], False, CaaDecision(True, "no_issue_property")),
        ([r(0, "iodef", "mailto:security@example.com")], False, CaaDecision(True, "no_issue_property")),
        ([r(128, "contactemail", "dv@example.com")], False, CaaDecision(True, "no_issue_property")),
        ([r(0, "contactphone", "+81 3 1234 5678")], False, CaaDecision(True, "no_issue_property")),
        ([r(0, "iodef", "mailto:x@example.com"), r(0, "issue", ";")], False, CaaDecision(False, "issue_forbidden")),
        # issuewild speaks only for wildcards (RFC 8659 §4.3).
        ([r(0, "issuewild", "ca.example")], False, CaaDecision(True, "no_issue_property")),
        ([r(0, "issuewild", "other.example")], False, CaaDecision(True, "no_issue_property")),
        (
            [r(0, "issue", "other.example"), r(0, "issuewild", "ca.example")],
            False,
            CaaDecision(False, "issuer_not_authorized", "other.example"),
        ),
        (
            [r(0, "issue", "other.example"), r(0, "issuewild", "ca.example")],
            True,
            CaaDecision(True, "issuer_authorized", "ca.example"),
        ),
        (
            [r(0, "issue", "ca.example"), r(0, "issuewild", "other.example")],
            True,
            CaaDecision(False, "issuer_not_authorized", "other.example"),
        ),
        ([r(0, "issue", "ca.example"), r(0, "IssueWild", ";")], True, CaaDecision(False, "issue_forbidden")),
        ([r(0, "issue", "ca.example")], True, CaaDecision(True, "issuer_authorized", "ca.example")),
        ([r(0, "issue", ";")], True, CaaDecision(False, "issue_forbidden")),
        ([r(0, "iodef", "mailto:x@example.com")], True, CaaDecision(True, "no_issue_property")),
    ],
)
def test_evaluate(records: list[CaaRecord], wildcard: bool, decision: CaaDecision) -> None:
    assert evaluate(records, OURS, wildcard) == decision


@pytest.mark.parametrize("identity", ["ca.example", "CA.EXAMPLE", "ca.example.", " ca.example "])
def test_identities_ignore_case_and_trailing_dot(identity: str) -> None:
    assert evaluate([r(0, "issue", "ca.example")], {identity, "ca2.example"}, False).permitted


def test_no_identity_no_permission() -> None:
    assert evaluate([r(0, "issue", "ca.example")], set(), False) == CaaDecision(
        False, "issuer_not_authorized", "ca.example"
    )


ACCOUNT = "https://certdesk.example/customers/12"


@pytest.mark.parametrize(
    ("value", "method", "account", "decision"),
    [
        # RFC 8657 §3: accounturi binds the record to one account.
        (f"certdesk.example; accounturi={ACCOUNT}", "ca-tbr-7", ACCOUNT,
         CaaDecision(True, "issuer_authorized", "certdesk.example")),
        (f"certdesk.example; accounturi={ACCOUNT}", "ca-tbr-7", "https://certdesk.example/customers/13",
         CaaDecision(False, "parameters_not_met", f"accounturi={ACCOUNT}")),
        (f"certdesk.example; accounturi={ACCOUNT}", "ca-tbr-7", None,
         CaaDecision(False, "parameters_not_met", f"accounturi={ACCOUNT}")),
        # §4: validationmethods lists the methods allowed.
        ("certdesk.example; validationmethods=ca-tbr-7,ca-tbr-18", "ca-tbr-18", None,
         CaaDecision(True, "issuer_authorized", "certdesk.example")),
        ("certdesk.example; validationmethods=ca-tbr-7", "ca-tbr-4", None,
         CaaDecision(False, "parameters_not_met", "validationmethods=ca-tbr-7")),
        ("certdesk.example; validationmethods=dns-01", None, None,
         CaaDecision(False, "parameters_not_met", "validationmethods=dns-01")),
        # Unknown parameters are ignored; the key is case-insensitive.
        ("certdesk.example; policy=ev", "ca-tbr-7", None, CaaDecision(True, "issuer_authorized", "certdesk.example")),
        ("certdesk.example; ValidationMethods=ca-tbr-18", "ca-tbr-7", None,
         CaaDecision(False, "parameters_not_met", "validationmethods=ca-tbr-18")),
    ],
)
def test_rfc8657_parameters(value: str, method: str | None, account: str | None, decision: CaaDecision) -> None:
    records = [CaaRecord(0, "issue", value)]
    assert evaluate(records, ["certdesk.example"], False, method, account) == decision


def test_one_record_naming_us_without_limits_is_enough() -> None:
    records = [CaaRecord(0, "issue", "certdesk.example; accounturi=https://x.example/a/1"),
               CaaRecord(0, "issue", "certdesk.example")]
    assert evaluate(records, ["certdesk.example"], False).permitted
    # Another CA's parameters are not ours to meet.
    other = [CaaRecord(0, "issue", "other-ca.example; accounturi=https://other/1")]
    assert evaluate(other, ["certdesk.example"], False) == CaaDecision(False, "issuer_not_authorized",
                                                                       "other-ca.example")
