"""A server certificate's download files (S-8) and the record that it was downloaded.

Only public material: the issued certificate and the CA certificates the web process keeps
(``store.certificates``). ``Application.downloaded_at`` is set at the first download of a file
that holds the certificate (お申込一覧's download filter reads it); every download is audited.
"""

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from sqlalchemy import Engine
from sqlmodel import update

from domain.pki.hierarchy import ROOT_OF, TLS_CA
from store import audit
from store.certificates import ca_certificate
from store.db import session_scope
from store.models import Application, CertificateRecord, utcnow

MEDIA_TYPES = {"certificate": "application/x-pem-file", "chain": "application/x-pem-file",
               "fullchain": "application/pem-certificate-chain", "pkcs7": "application/x-pkcs7-certificates"}


def _pem(certs: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


def file_bytes(engine: Engine, cert: CertificateRecord, fmt: str) -> bytes:
    """The file of ``fmt`` (domain.site_seal.FORMATS) for an issued certificate of the server CA.

    The chain is the issuing CA; PKCS#7 (DER, for Windows/IIS) also carries the root, which
    Windows' import wizard places in the right stores."""
    if cert.der is None:
        raise LookupError(f"certificate {cert.serial} has no stored DER")
    leaf = x509.load_der_x509_certificate(cert.der)
    issuing = ca_certificate(engine, TLS_CA)
    root = ca_certificate(engine, ROOT_OF[TLS_CA])
    chain = [c for c in (issuing,) if c is not None]
    if fmt == "certificate":
        return _pem([leaf])
    if fmt == "chain":
        return _pem(chain)
    if fmt == "fullchain":
        return _pem([leaf, *chain])
    if fmt == "pkcs7":
        return pkcs7.serialize_certificates([leaf, *chain, *([root] if root is not None else [])], Encoding.DER)
    raise ValueError(f"unknown download format {fmt!r}")


def record_download(engine: Engine, application_id: int, actor: str, fmt: str, holds_certificate: bool) -> None:
    """Audits the download; the first one of the certificate sets ``downloaded_at`` (kept after)."""
    with session_scope(engine) as s:
        if holds_certificate:
            s.exec(update(Application).where(Application.id == application_id,  # type: ignore[arg-type]
                                             Application.downloaded_at.is_(None))  # type: ignore[attr-defined]
                   .values(downloaded_at=utcnow()))
        audit.record(s, actor, "application.downloaded", f"application:{application_id}", format=fmt)
