"""Small builders shared by the CA and end-entity profiles, and the public URL layout."""

from __future__ import annotations

import secrets

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def random_serial() -> int:
    """Positive serial with 152 CSPRNG bits (BR 7.1: >= 64 bits); fits 20 octets (RFC 5280 4.1.2.2)."""
    return secrets.randbits(152) | (1 << 152)


def distribution_base(public_url: str) -> str:
    """Base for CRL/AIA/OCSP URLs, always plain http.

    BR 7.1.2.11.2 and 7.1.2.10.3 require http URIs there: relying parties fetch revocation
    data without TLS to avoid circular validation.  The same host must serve these paths
    over http.
    """
    base = public_url.strip().rstrip("/")
    if base.startswith("https://"):
        base = "http://" + base.removeprefix("https://")
    if not base.startswith("http://"):
        raise ValueError(f"public URL must be an http(s) URL, got {public_url!r}")
    return base


def crl_url(public_url: str, ca_name: str) -> str:
    return f"{distribution_base(public_url)}/pki/{ca_name}.crl"


def ca_issuers_url(public_url: str, ca_name: str) -> str:
    return f"{distribution_base(public_url)}/pki/{ca_name}.crt"


def ocsp_url(public_url: str) -> str:
    return f"{distribution_base(public_url)}/ocsp"


def ca_subject(organisation: str, country: str, common_name: str) -> x509.Name:
    # BR 7.1.2.10.2: CA subjects carry countryName, organizationName and commonName.
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def ski(public_key: PublicKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(public_key)


def aki(issuer_public_key: PublicKey) -> x509.AuthorityKeyIdentifier:
    # keyIdentifier only: issuer name + serial in AKI is forbidden by the BRs.
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski(issuer_public_key))


def crl_distribution_points(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
        ]
    )


def authority_information_access(ocsp: str | None, ca_issuers: str) -> x509.AuthorityInformationAccess:
    descriptions = []
    if ocsp is not None:
        descriptions.append(
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp))
        )
    descriptions.append(
        x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(ca_issuers))
    )
    return x509.AuthorityInformationAccess(descriptions)
