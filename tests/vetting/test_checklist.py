"""What approve refuses, one missing fact at a time, on both sides of the reuse boundaries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.vetting.checklist import DomainFacts, VettingFacts, approval_refusals
from domain.vetting.dcv import Method

ISSUE = datetime(2026, 12, 4, 10, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)

WWW = DomainFacts("www.example.com", ISSUE - DAY, Method.DNS_CHANGE, caa_permitted=True)


def ov(**changes: object) -> VettingFacts:
    facts = VettingFacts(
        level="ov",
        issuance_at=ISSUE,
        domains=(WWW,),
        organization_source="nta_corporate_number",
        organization_verified_at=ISSUE - 30 * DAY,
        phone_callback_at=ISSUE - 29 * DAY,
    )
    return replace(facts, **changes)


def ev(**changes: object) -> VettingFacts:
    return replace(
        ov(level="ev", ev_operational_existence=True, ev_legal_existence=True, ev_signer_authority=True), **changes
    )


def www(**changes: object) -> tuple[DomainFacts, ...]:
    return (replace(WWW, **changes),)


@pytest.mark.parametrize(
    ("facts", "refusals"),
    [
        (ov(), []),
        (ev(), []),
        (ov(domains=()), ["no_domains"]),
        # Domain control.
        (ov(domains=www(validated_at=None)), ["domain_not_validated:www.example.com"]),
        (ov(domains=www(method=None)), ["domain_not_validated:www.example.com"]),
        (ov(domains=www(validated_at=ISSUE - 200 * DAY)), []),
        (ov(domains=www(validated_at=ISSUE - 200 * DAY - SECOND)), ["domain_validation_expired:www.example.com"]),
        (ov(domains=www(validated_at=ISSUE + SECOND)), ["domain_validation_expired:www.example.com"]),
        (ov(domains=www(validated_domain="example.com")), []),
        (ov(domains=www(validated_domain="shop.example.com")), ["domain_not_covered:www.example.com"]),
        (
            ov(domains=www(method=Method.HTTP_FILE, validated_domain="example.com")),
            ["domain_not_covered:www.example.com"],
        ),
        (ov(domains=www(method=Method.HTTP_FILE)), []),
        (
            ov(domains=www(name="*.example.com", method=Method.HTTP_FILE)),
            ["domain_method_not_allowed:*.example.com"],
        ),
        (ov(domains=www(name="*.example.com", validated_domain="example.com")), []),
        (ov(domains=www(method=Method.CONSTRUCTED_EMAIL)), []),
        # CAA.
        (ov(domains=www(caa_permitted=None)), ["caa_not_checked:www.example.com"]),
        (ov(domains=www(caa_permitted=False)), ["caa_refused:www.example.com"]),
        (
            ov(domains=www(validated_at=None, caa_permitted=False)),
            ["domain_not_validated:www.example.com", "caa_refused:www.example.com"],
        ),
        # Organization and callback: the Subject Identity reuse period (398 days from 2026-03-15).
        (ov(organization_source=None), ["organization_not_verified"]),
        (ov(organization_source=""), ["organization_not_verified"]),
        (ov(organization_verified_at=None), ["organization_not_verified"]),
        (ov(organization_verified_at=ISSUE - 398 * DAY), []),
        (ov(organization_verified_at=ISSUE - 398 * DAY - SECOND), ["organization_validation_expired"]),
        (ov(phone_callback_at=None), ["phone_callback_missing"]),
        (ov(phone_callback_at=ISSUE - 398 * DAY), []),
        (ov(phone_callback_at=ISSUE - 398 * DAY - SECOND), ["phone_callback_expired"]),
        # EV extras.
        (
            ov(level="ev"),
            ["ev_operational_existence_missing", "ev_legal_existence_missing", "ev_signer_authority_missing"],
        ),
        (ev(ev_legal_existence=False), ["ev_legal_existence_missing"]),
        (ov(ev_legal_existence=False), []),
    ],
)
def test_approval_refusals(facts: VettingFacts, refusals: list[str]) -> None:
    assert approval_refusals(facts, caa=True) == refusals


def test_approval_does_not_wait_for_caa() -> None:
    """CAA is looked at right before signing, after approval: a refusal or no look yet does not stop it."""
    assert approval_refusals(ov(domains=www(caa_permitted=None))) == []
    assert approval_refusals(ov(domains=www(caa_permitted=False, validated_at=None))) == [
        "domain_not_validated:www.example.com"]


BEFORE = datetime(2026, 3, 14, 23, 59, 59, tzinfo=UTC)
FROM = datetime(2026, 3, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("issuance_at", "domain_age", "org_age", "refusals"),
    [
        # Up to 2026-03-14 domains keep 398 days and organizations 825.
        (BEFORE, 398 * DAY, 825 * DAY, []),
        (
            BEFORE,
            398 * DAY + SECOND,
            825 * DAY + SECOND,
            ["domain_validation_expired:www.example.com", "organization_validation_expired"],
        ),
        # From 2026-03-15: 200 and 398.
        (FROM, 200 * DAY, 398 * DAY, []),
        (FROM, 201 * DAY, 399 * DAY, ["domain_validation_expired:www.example.com", "organization_validation_expired"]),
    ],
)
def test_reuse_periods_follow_the_issuance_date(
    issuance_at: datetime, domain_age: timedelta, org_age: timedelta, refusals: list[str]
) -> None:
    facts = ov(
        issuance_at=issuance_at,
        domains=www(validated_at=issuance_at - domain_age),
        organization_verified_at=issuance_at - org_age,
        phone_callback_at=issuance_at - DAY,
    )
    assert approval_refusals(facts) == refusals


@pytest.mark.parametrize(
    ("issuance_at", "refusals"),
    [
        (datetime(2028, 3, 14, 23, 59, 59, tzinfo=UTC), []),
        (datetime(2028, 3, 15, tzinfo=UTC), ["domain_method_retired:www.example.com"]),
    ],
)
def test_constructed_email_retires(issuance_at: datetime, refusals: list[str]) -> None:
    facts = ov(
        issuance_at=issuance_at,
        domains=www(method=Method.CONSTRUCTED_EMAIL, validated_at=issuance_at - DAY),
        organization_verified_at=issuance_at - DAY,
        phone_callback_at=issuance_at - DAY,
    )
    assert approval_refusals(facts) == refusals


def test_every_domain_is_reported_in_order() -> None:
    facts = ov(
        domains=(
            WWW,
            DomainFacts("shop.example.com", caa_permitted=True),
            DomainFacts("*.example.com", ISSUE - DAY, Method.HTTP_FILE, caa_permitted=None),
        )
    )
    assert approval_refusals(facts, caa=True) == [
        "domain_not_validated:shop.example.com",
        "domain_method_not_allowed:*.example.com",
        "caa_not_checked:*.example.com",
    ]


def test_unknown_level() -> None:
    with pytest.raises(ValueError, match="validation level"):
        approval_refusals(ov(level="dv"))
