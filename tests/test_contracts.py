"""What an issued application establishes: contract codes and the vetted subject (domain/contracts.py)."""

import pytest

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
