"""CSR intake: parse, verify the proof of possession, and vet the key and names (spec P-3)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from domain.pki.errors import CsrError
from domain.pki.keys import SubscriberPublicKey, check_public_key
from domain.pki.names import FIELD as NAMES_FIELD
from domain.pki.names import normalise_dns_name

DEFAULT_MAX_NAMES = 100
# Exactly one PEM block, whitespace around it allowed: no second CSR, no junk before or after,
# no RFC 1421 headers. What is kept is the canonical re-encoding, never the text as sent.
_PEM = re.compile(rb"-----BEGIN (NEW )?CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]+)-----END \1?CERTIFICATE REQUEST-----")


@dataclass(frozen=True)
class CheckedCsr:
    public_key: SubscriberPublicKey
    dns_names: list[str]  # lowercase, in CSR order, CN included
    common_name: str | None
    key_description: str  # e.g. "RSA-2048", "ECDSA-P-256"
    pem: str  # the canonical PEM of the one CSR parsed: what is stored


def _der(data: bytes) -> bytes:
    """The DER of the one PEM block ``data`` holds (or ``data`` itself when it is DER)."""
    if not data.lstrip().startswith(b"-----"):
        return data
    block = _PEM.fullmatch(data.strip())
    if block is None:
        raise CsrError("csr", "the CSR must be exactly one PEM block (-----BEGIN CERTIFICATE REQUEST-----"
                              " … -----END CERTIFICATE REQUEST-----) with nothing before or after it",
                       "not_one_pem_block")
    try:
        return base64.b64decode(b"".join(block.group(2).split()), validate=True)
    except (binascii.Error, ValueError):
        raise CsrError("csr", "the CSR's PEM body is not valid base64", "not_base64") from None


def _load(pem_or_der: str | bytes) -> x509.CertificateSigningRequest:
    data = pem_or_der.encode("ascii", "replace") if isinstance(pem_or_der, str) else pem_or_der
    der = _der(data)
    try:
        return x509.load_der_x509_csr(der)  # refuses bytes after the structure
    except ValueError as exc:
        raise CsrError("csr", f"the CSR could not be parsed as PEM or DER ({exc})", "unparsable") from None


def _san_names(csr: x509.CertificateSigningRequest) -> list[str]:
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    except ValueError as exc:  # duplicate or malformed extensions
        raise CsrError("csr", f"the CSR's requested extensions are malformed ({exc})", "extensions_malformed") from None
    for general_name in san:
        if not isinstance(general_name, x509.DNSName):
            raise CsrError(
                NAMES_FIELD,
                f"subjectAltName contains {general_name!r}; only DNS names are accepted",
                "san_not_dns",
            )
    return [general_name.value for general_name in san]


def _common_name(csr: x509.CertificateSigningRequest) -> str | None:
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(cns) > 1:
        raise CsrError("common_name", "the CSR subject has more than one common name", "multiple_common_names")
    if not cns:
        return None
    value = cns[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def parse_csr(pem_or_der: str | bytes, max_names: int = DEFAULT_MAX_NAMES) -> CheckedCsr:
    """Parses and vets a CSR; raises CsrError naming the first problem found."""
    csr = _load(pem_or_der)
    try:
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CsrError("public_key", f"the CSR's public key could not be read ({exc})",
                       "public_key_unreadable") from None
    key_description = check_public_key(public_key)
    assert isinstance(public_key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey))  # narrowed by the check
    try:
        signature_ok = csr.is_signature_valid
    except Exception as exc:  # unsupported signature algorithms surface as various exceptions
        raise CsrError("signature", f"the CSR signature could not be checked ({exc})",
                       "signature_uncheckable") from None
    if not signature_ok:
        raise CsrError("signature", "the CSR signature does not match its public key", "signature_mismatch")

    raw_names = _san_names(csr)
    common_name = _common_name(csr)
    if not raw_names:
        raise CsrError(NAMES_FIELD, "the CSR has no subjectAltName DNS names", "no_dns_names")
    if len(raw_names) > max_names:
        raise CsrError(NAMES_FIELD, f"the CSR has {len(raw_names)} names; at most {max_names} are allowed",
                       "too_many_names", count=len(raw_names), max=max_names)
    names: list[str] = []
    for raw in raw_names:
        name = normalise_dns_name(raw)
        if name in names:
            raise CsrError(NAMES_FIELD, f"{name!r} is listed more than once", "duplicate_name", name=name)
        names.append(name)
    if common_name is not None:
        common_name = common_name.strip().lower()
        if common_name not in names:
            raise CsrError(
                "common_name",
                f"the common name {common_name!r} must also be listed in the subjectAltName",
                "common_name_not_in_san", name=common_name,
            )
    return CheckedCsr(public_key, names, common_name, key_description,
                      csr.public_bytes(Encoding.PEM).decode("ascii"))
