"""What an issued application establishes (S-2, manual 契約コード): its contract code and the
certificate subject vetted from its organization."""

from domain.pki.profiles import EvSubject, OrganisationSubject


def contract_code(application_id: int) -> str:
    """The contract is established with the first certificate of a new application."""
    return f"C{application_id:07d}"


def establishes_contract(application_type: str) -> bool:
    # A reissue (and later a renewal's replacement) stays under its original application's contract.
    return application_type == "new"


def certificate_subject(organization: dict[str, str], level: str) -> OrganisationSubject:
    """The subject the vetted organization gets at its product's level (OV or EV)."""
    base = (organization.get("country") or "JP", organization.get("name") or "",
            organization.get("state") or None, organization.get("locality") or None)
    if level == "ev":
        return EvSubject(*base, business_category="Private Organization",
                         jurisdiction_country=organization.get("country") or "JP",
                         registration_number=organization.get("registration_number") or "")
    return OrganisationSubject(*base)
