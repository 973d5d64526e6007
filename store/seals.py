"""The Web ステッカー's records (S-8): a contract's public id and what the seal page shows.

The public id is 128 random bits (``secrets``), made the first time the customer opens the
download screen of a record of the contract; it names the contract and nothing else. What the
page shows is read at each request from the CA's own records (the contract's current
certificate and its revocation state), so a revocation shows there at once.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine
from sqlmodel import select, update

from domain import site_seal
from domain.pki.hierarchy import TLS_CA
from store.certificates import certificate_record
from store.db import session_scope
from store.models import Application, Contract

ID_BYTES = 16  # 128 bits: 22 characters of URL-safe base64


def new_public_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


def public_id_of(engine: Engine, contract_code: str) -> str | None:
    """The contract's seal id, made now if it has none (a retry or a race keeps the first one)."""
    with session_scope(engine) as s:
        s.exec(update(Contract).where(Contract.code == contract_code,  # type: ignore[arg-type]
                                      Contract.seal_id.is_(None))  # type: ignore[union-attr]
               .values(seal_id=new_public_id()))
    with session_scope(engine) as s:
        return s.exec(select(Contract.seal_id).where(Contract.code == contract_code)).first()


@dataclass(frozen=True)
class SealFacts:
    """What the public page shows: nothing that names the customer's account or contract."""

    organization: str
    names: list[str]
    not_before: datetime | None
    not_after: datetime | None
    status: site_seal.Status
    revoked_at: datetime | None

    @property
    def valid(self) -> bool:
        return self.status == "valid"

    @property
    def first_name(self) -> str:
        return self.names[0] if self.names else ""


def _organization(der: bytes | None, fallback: str) -> str:
    """The organization the certificate names (vetted), else the application's."""
    if der:
        found = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        if found and isinstance(found[0].value, str):
            return found[0].value
    return fallback


def lookup(engine: Engine, public_id: str, now: datetime) -> SealFacts | None:
    """The seal's facts now, or None for an id that names no contract."""
    if not public_id or len(public_id) > 64:
        return None
    with session_scope(engine) as s:
        contract = s.exec(select(Contract).where(Contract.seal_id == public_id)).first()
        if contract is None:
            return None
        cert = certificate_record(s, TLS_CA, contract.certificate_serial)
        app = s.get(Application, contract.current_application_id)
        fallback = str((app.organization if app else {}).get("name", ""))
        if cert is None:
            return SealFacts(fallback, list(app.names) if app else [], None, None, "unknown", None)
        state = site_seal.status(cert.state, cert.not_before, cert.not_after, contract.state, now)
        return SealFacts(_organization(cert.der, fallback), list(cert.names), cert.not_before, cert.not_after, state,
                         cert.revoked_at if state == "revoked" else None)
