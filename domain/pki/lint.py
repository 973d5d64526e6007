"""Pre-issuance linting, the Boulder way.

The builder is first signed with a throwaway key of the CA key's type and linted with
pkilint in process; only a clean result is signed with the real CA key.  Because the TBS
part does not depend on the signing key, the linted and the issued certificate carry
byte-identical TBS data, which we assert rather than trust.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from pkilint import finding_filter, loader, pkix
from pkilint.cabf import cabf_crl, serverauth
from pkilint.cabf.serverauth.serverauth_constants import CertificateType
from pkilint.pkix import certificate, crl, extension, name
from pkilint.validation import ValidationFindingSeverity

from domain.pki.errors import LintError

CaPrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
# The cached validators are shared; pkilint does not promise they are thread-safe, and a
# lint takes milliseconds, so serialising them is the cheap way to be safe under threads.
_VALIDATE_LOCK = threading.Lock()


# Findings a development stack may tolerate: its public URL (e.g. http://127.0.0.1:8000) is
# an internal name, which the BRs rightly forbid in CRL/AIA URLs. Only these codes, and only
# when the finding names the tolerated host; production never sets a tolerated host.
_URL_HOST_CODES = frozenset({"cabf.internal_domain_name", "pkix.invalid_uri_syntax"})
_tolerated_host: contextvars.ContextVar[str | None] = contextvars.ContextVar("tolerated_host", default=None)


@contextlib.contextmanager
def tolerating_url_host(host: str | None) -> Iterator[None]:
    """Within this block, findings about ``host`` in URLs do not refuse issuance (development only)."""
    token = _tolerated_host.set(host)
    try:
        yield
    finally:
        _tolerated_host.reset(token)


def _tolerated(finding: Finding) -> bool:
    host = _tolerated_host.get()
    return bool(host) and finding.code in _URL_HOST_CODES and f"{host}" in (finding.message or "")


class LintProfile(enum.Enum):
    """What a certificate is meant to be; selects the pkilint rule set."""

    ROOT_CA = CertificateType.ROOT_CA
    # Operated by the root's owner, so an internal (affiliated) CA in BR 7.1.2.10.5 terms:
    # anyPolicy lets it issue OV and EV; the external profile would forbid that.
    TLS_ISSUING_CA = CertificateType.INTERNAL_UNCONSTRAINED_TLS_CA
    NON_TLS_CA = CertificateType.NON_TLS_CA  # client-auth issuing CA
    OCSP_RESPONDER = CertificateType.OCSP_RESPONDER
    OV = CertificateType.OV_FINAL_CERTIFICATE
    EV = CertificateType.EV_FINAL_CERTIFICATE
    PKIX = None  # login certificates: no CA/B profile applies, RFC 5280 only


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str | None

    def __str__(self) -> str:
        return f"{self.code} ({self.severity})" + (f": {self.message}" if self.message else "")


@cache
def _certificate_validator(profile: LintProfile) -> tuple[Any, list[Any]]:
    # Building a validator costs ~0.2 s and a lint ~4 ms, so each is built once per profile.
    if profile.value is None:
        validator = certificate.create_pkix_certificate_validator_container(
            certificate.create_decoding_validators(name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS),
            [
                certificate.create_issuer_validator_container([]),
                certificate.create_validity_validator_container(),
                certificate.create_subject_validator_container([]),
                certificate.create_extensions_validator_container([]),
                certificate.create_spki_validator_container([]),
            ],
        )
        return validator, []
    validator = certificate.create_pkix_certificate_validator_container(
        serverauth.create_decoding_validators(), serverauth.create_validators(profile.value)
    )
    # Same filters as the pkilint CLI's default: drop PKIX findings the BRs supersede.
    return validator, serverauth.create_serverauth_finding_filters(profile.value)


@cache
def _crl_validator(is_arl: bool) -> Any:
    crl_type = crl.CertificateRevocationListType.ARL if is_arl else crl.CertificateRevocationListType.CRL
    return crl.create_pkix_crl_validator_container(
        [
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [
            crl.create_issuer_validator_container([]),
            crl.create_validity_validator_container([cabf_crl.create_validity_period_validator(crl_type)]),
            crl.create_extensions_validator_container([]),
            cabf_crl.CabfCrlReasonCodeAllowlistValidator(crl_type),
        ],
    )


def _findings(results: Any, min_severity: ValidationFindingSeverity) -> list[Finding]:
    found = [
        Finding(fd.finding.code, fd.finding.severity.name, fd.message)
        for result in results
        for fd in result.finding_descriptions
        if fd.finding.severity <= min_severity  # lower value = more severe
    ]
    return [f for f in found if not _tolerated(f)]


def lint_certificate(
    der: bytes,
    profile: LintProfile,
    min_severity: ValidationFindingSeverity = ValidationFindingSeverity.WARNING,
) -> list[Finding]:
    """pkilint findings at `min_severity` or worse for a DER certificate."""
    validator, filters = _certificate_validator(profile)
    document = loader.load_der_certificate(der, "certificate")
    with _VALIDATE_LOCK:
        results = validator.validate(document.root)
    if filters:
        results, _ = finding_filter.filter_results(filters, results)
    return _findings(results, min_severity)


def lint_crl(
    der: bytes, is_arl: bool, min_severity: ValidationFindingSeverity = ValidationFindingSeverity.WARNING
) -> list[Finding]:
    """pkilint findings (RFC 5280 + BR profile) for a DER CRL; `is_arl` for CRLs issued by a root."""
    document = loader.load_der_crl(der, "crl")
    with _VALIDATE_LOCK:
        results = _crl_validator(is_arl).validate(document.root)
    return _findings(results, min_severity)


def signature_hash(key: CaPrivateKey) -> hashes.HashAlgorithm:
    """BR 7.1.3.2: P-384 keys sign with SHA-384, P-256 and RSA with SHA-256."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size == 384:
        return hashes.SHA384()
    return hashes.SHA256()


@cache
def _throwaway_key(kind: str, size: int) -> CaPrivateKey:
    # Cached: RSA generation is slow, and the key only has to match the CA key's algorithm.
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    return ec.generate_private_key({256: ec.SECP256R1(), 384: ec.SECP384R1()}[size])


def _throwaway_like(key: CaPrivateKey) -> CaPrivateKey:
    if isinstance(key, rsa.RSAPrivateKey):
        return _throwaway_key("rsa", key.key_size)
    return _throwaway_key("ec", key.curve.key_size)


def sign_linted(builder: x509.CertificateBuilder, ca_key: CaPrivateKey, profile: LintProfile) -> x509.Certificate:
    """Signs `builder` with `ca_key` only if its throwaway-signed twin lints clean."""
    algorithm = signature_hash(ca_key)
    linted = builder.sign(_throwaway_like(ca_key), algorithm)
    findings = lint_certificate(linted.public_bytes(Encoding.DER), profile)
    if findings:
        raise LintError([str(f) for f in findings])
    issued = builder.sign(ca_key, algorithm)
    if issued.tbs_certificate_bytes != linted.tbs_certificate_bytes:
        raise LintError(["tbs_mismatch: the issued certificate differs from the linted one"])
    return issued


def sign_linted_crl(
    builder: x509.CertificateRevocationListBuilder,
    ca_key: CaPrivateKey,
    is_arl: bool,
    sample: x509.CertificateRevocationListBuilder | None = None,
) -> x509.CertificateRevocationList:
    """Same pre-issuance discipline for CRLs.

    pkilint decodes ~0.5 ms per CRL entry, so for large CRLs the caller may pass `sample`: the
    same header with a representative subset of entries.  The sample is linted instead, and the
    TBS comparison is then necessarily skipped.
    """
    algorithm = signature_hash(ca_key)
    linted = (sample or builder).sign(_throwaway_like(ca_key), algorithm)
    findings = lint_crl(linted.public_bytes(Encoding.DER), is_arl)
    if findings:
        raise LintError([str(f) for f in findings])
    issued = builder.sign(ca_key, algorithm)
    if sample is None and issued.tbs_certlist_bytes != linted.tbs_certlist_bytes:
        raise LintError(["tbs_mismatch: the issued CRL differs from the linted one"])
    return issued


@cache
def _ocsp_response_validator() -> Any:
    """pkilint's RFC 6960 response checks plus the BR 4.9.10 validity interval for subscriber responses."""
    # Imported here so this addition leaves the module header alone.
    import operator
    from datetime import timedelta

    from pkilint import document, validation
    from pkilint.pkix import ocsp, time

    br_validity = time.ValidityPeriodThresholdsValidator(
        path_re=document.get_re_for_path_glob(
            "oCSPResponse.responseBytes.response.basicOCSPResponse.tbsResponseData.responses.*.thisUpdate"
        ),
        predicate=lambda n: "nextUpdate" in n.parent.children,
        end_validity_node_retriever=lambda n: n.navigate("^.nextUpdate"),
        inclusive_second=True,  # BR 4.9.10: "the difference ... inclusive"
        validity_period_thresholds=[
            (
                operator.ge,
                timedelta(hours=8),
                validation.ValidationFinding(ValidationFindingSeverity.ERROR, "cabf.ocsp_validity_below_8_hours"),
            ),
            (
                operator.le,
                timedelta(days=10),
                validation.ValidationFinding(ValidationFindingSeverity.ERROR, "cabf.ocsp_validity_exceeds_10_days"),
            ),
        ],
    )
    return ocsp.create_pkix_ocsp_response_validator_container(
        [
            ocsp.create_response_decoder(),
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [br_validity],
    )


def lint_ocsp_response(
    der: bytes,
    min_severity: ValidationFindingSeverity = ValidationFindingSeverity.WARNING,
    responder_profile: LintProfile | None = LintProfile.OCSP_RESPONDER,
) -> list[Finding]:
    """pkilint findings for a DER OCSP response (what `lint_ocsp_response` reports, plus BR 4.9.10).

    Embedded certificates (the delegated responder's) are linted too, with `responder_profile`
    (BR 7.1.2.8); pass None to skip that.  Findings on them carry a "certs[i]: " code prefix.
    """
    from cryptography.x509 import ocsp as x509_ocsp

    document_ = loader.load_der_ocsp_response(der, "ocsp_response")
    with _VALIDATE_LOCK:
        results = _ocsp_response_validator().validate(document_.root)
    findings = _findings(results, min_severity)
    if responder_profile is not None:
        response = x509_ocsp.load_der_ocsp_response(der)
        if response.response_status == x509_ocsp.OCSPResponseStatus.SUCCESSFUL:
            for i, cert in enumerate(response.certificates):
                for f in lint_certificate(cert.public_bytes(Encoding.DER), responder_profile, min_severity):
                    findings.append(Finding(f"certs[{i}]: {f.code}", f.severity, f.message))
    return findings
