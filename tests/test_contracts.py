"""What an issued application establishes: contract codes and the vetted subject (domain/contracts.py);
and the contract's life (domain/contract_life.py): terms, the reminder ladder, validity, 解約."""

from datetime import UTC, datetime, timedelta

import pytest

from domain import contract_life as life
from domain.contracts import certificate_subject, contract_code, establishes_contract
from domain.pki.profiles import EvSubject, OrganisationSubject

ORG = {"name": "Example KK", "country": "JP", "state": "Tokyo", "locality": "Chiyoda-ku",
       "registration_number": "0100-01-123456"}


@pytest.mark.parametrize(("application_id", "code"), [(1, "C0000001"), (1234567, "C1234567"), (12345678, "C12345678")])
def test_contract_codes(application_id: int, code: str) -> None:
    assert contract_code(application_id) == code


@pytest.mark.parametrize(("kind", "establishes"), [("new", True), ("reissue", False), ("revocation", False),
                                                   ("contact_change", False)])
def test_only_a_new_application_establishes_a_contract(kind: str, establishes: bool) -> None:
    assert establishes_contract(kind) is establishes


def test_subjects_by_level() -> None:
    ov = certificate_subject(ORG, "ov")
    assert type(ov) is OrganisationSubject and (ov.country, ov.organisation, ov.state, ov.locality) == (
        "JP", "Example KK", "Tokyo", "Chiyoda-ku")
    ev = certificate_subject(ORG, "ev")
    assert isinstance(ev, EvSubject)
    assert (ev.business_category, ev.jurisdiction_country, ev.registration_number) == (
        "Private Organization", "JP", "0100-01-123456")
    no_country = certificate_subject({"name": "X", "locality": "Osaka"}, "ov")
    assert (no_country.country, no_country.state, no_country.locality) == ("JP", None, "Osaka")


# --- the contract's life (domain/contract_life.py) -------------------------------------------------

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("start", "months", "end"), [
    (datetime(2026, 1, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),  # no 31st: the month's last day
    (datetime(2028, 1, 31, tzinfo=UTC), 1, datetime(2028, 2, 29, tzinfo=UTC)),  # leap year
    (datetime(2026, 12, 5, tzinfo=UTC), 12, datetime(2027, 12, 5, tzinfo=UTC)),
    (datetime(2026, 11, 30, tzinfo=UTC), 3, datetime(2027, 2, 28, tzinfo=UTC)),
    (datetime(2026, 12, 5, tzinfo=UTC), 24, datetime(2028, 12, 5, tzinfo=UTC)),
])
def test_terms_run_in_calendar_months(start: datetime, months: int, end: datetime) -> None:
    term = life.Term.of(start, months)
    assert term.end == end and term.following(months).start == end  # no day lost between terms


@pytest.mark.parametrize(("lives_days", "known_days_before", "sent"), [
    (199, 199, [90, 60, 30, 14, 7, 1]),  # a new certificate: the whole ladder
    (10, 10, [14, 7, 1]),  # a short one: the nearest missed step at once, then the rest
    (95, 45, [60, 30, 14, 7, 1]),  # known late: 60 at once (its moment passed), never 90
    (1, 0, []),  # already past
])
def test_the_ladder(lives_days: int, known_days_before: int, sent: list[int]) -> None:
    target = T0 + timedelta(days=lives_days)
    known = target - timedelta(days=known_days_before)
    due = life.ladder(life.CERTIFICATE, target, life.DEFAULT_LADDER, known)
    assert [r.days for r in due] == sent
    assert all(r.at >= known for r in due) and [r.at for r in due] == sorted(r.at for r in due)
    assert len({r.key for r in due}) == len(due)


@pytest.mark.parametrize(("term_days", "days"), [
    (365, 199),  # before 2027-03-15: one day under the BR's 200
    (120, 120),  # cut at the contract's end
    (0, 1),  # never less than a day
])
def test_certificate_days_inside_a_contract(term_days: int, days: int) -> None:
    assert life.certificate_days(T0, 397, T0 + timedelta(days=term_days)) == days


def test_after_2027_03_15_the_cap_is_99_days() -> None:
    start = datetime(2027, 3, 15, tzinfo=UTC)
    assert life.certificate_days(start, 397, start + timedelta(days=365)) == 99


@pytest.mark.parametrize(("kind", "state", "days_left", "at_once", "refusal"), [
    (life.AUTO, life.ACTIVE, 60, False, None),
    (life.AUTO, life.ACTIVE, 29, False, "contract_cutoff_passed"),
    (life.AUTO, life.ACTIVE, 29, True, None),  # at once is always possible while it lives
    (life.FIXED, life.ACTIVE, 60, False, "contract_fixed_term"),
    (life.FIXED, life.ACTIVE, 60, True, None),
    (life.AUTO, life.ENDING, 60, False, "contract_already_ending"),
    (life.AUTO, life.ENDED, 60, True, "contract_not_active"),
])
def test_cancellation(kind: str, state: str, days_left: int, at_once: bool, refusal: str | None) -> None:
    assert life.cancel_refusal(kind, state, T0, T0 + timedelta(days=days_left), 30, at_once) == refusal


@pytest.mark.parametrize(("state", "days_left", "refusal"), [
    (life.ENDING, 31, None), (life.ENDING, 30, "contract_cutoff_passed"), (life.ACTIVE, 60, "contract_not_ending")])
def test_withdrawing_a_cancellation(state: str, days_left: int, refusal: str | None) -> None:
    assert life.withdraw_refusal(state, T0, T0 + timedelta(days=days_left), 30) == refusal


@pytest.mark.parametrize(("expires_days", "term_days", "needs"), [(199, 365, True), (119, 120, False),
                                                                  (118, 120, True), (200, 120, False)])
def test_a_replacement_is_needed_when_the_certificate_ends_first(expires_days: int, term_days: int,
                                                                  needs: bool) -> None:
    assert life.needs_replacement(T0 + timedelta(days=expires_days), T0 + timedelta(days=term_days)) is needs
