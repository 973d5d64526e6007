"""Saved account info (S-9): the customer's organization and contacts, audited by section."""

from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from domain import profile as profiles
from store import audit
from store.db import session_scope
from store.models import Customer, CustomerProfile, utcnow


def _stored(row: CustomerProfile) -> dict[str, Any]:
    return {"reseller_code": row.reseller_code, "organization": row.organization, "contacts": row.contacts}


def load_profile(engine: Engine, customer: Any) -> dict[str, Any]:
    """The saved document, or blanks with the account's organization name when nothing is saved."""
    with session_scope(engine) as s:
        row = s.get(CustomerProfile, customer.id)
        if row is None:
            return profiles.empty_document(customer.organization)
        return profiles.merged_with_defaults(_stored(row))


def save_profile(engine: Engine, customer: Any, profile: profiles.Profile) -> dict[str, Any]:
    """Replaces the customer's profile with this (validated) one; audited. Returns the saved document."""
    doc = profile.document()
    with session_scope(engine) as s:
        # One writer per customer at a time: the first save of two racing ones must not collide.
        s.exec(select(Customer).where(Customer.id == customer.id).with_for_update()).one()
        row = s.get(CustomerProfile, customer.id)
        before = _stored(row) if row is not None else None
        if row is None:
            row = CustomerProfile(customer_id=customer.id)
        row.reseller_code, row.organization, row.contacts = doc["reseller_code"], doc["organization"], doc["contacts"]
        row.updated_at = utcnow()
        s.add(row)
        audit.record(s, customer.actor, "customer.profile_saved", customer.actor, created=before is None,
                     sections=profiles.changed_sections(before, doc))
    return profiles.merged_with_defaults(doc)


def renewal_notices(engine: Engine, customer_id: int) -> bool:
    """更新のご案内メール: on unless the customer turned it off."""
    with session_scope(engine) as s:
        row = s.get(CustomerProfile, customer_id)
        return row.renewal_notices if row is not None else True


def save_renewal_notices(engine: Engine, customer: Any, wanted: bool) -> bool:
    """Turns 更新のご案内メール on or off; audited when it changes. Returns the setting."""
    with session_scope(engine) as s:
        s.exec(select(Customer).where(Customer.id == customer.id).with_for_update()).one()
        row = s.get(CustomerProfile, customer.id)
        if (row.renewal_notices if row is not None else True) == wanted:
            return wanted
        if row is None:  # no account info saved yet: the blanks a form would show, and the setting
            row = CustomerProfile(customer_id=customer.id,
                                  organization=profiles.empty_document(customer.organization)["organization"])
        row.renewal_notices, row.updated_at = wanted, utcnow()
        s.add(row)
        audit.record(s, customer.actor, "customer.renewal_notices_saved", customer.actor, wanted=wanted)
    return wanted


# --- JSON API -----------------------------------------------------------------------------------
