"""CSR intake: good requests pass with normalised names; each bad kind names its field."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from domain.pki.csr import parse_csr
from domain.pki.errors import CsrError
from domain.pki.names import normalise_dns_name

EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_csr(
    names: list[str] | None,
    cn: str | None = None,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = EC_KEY,
    extra: list[x509.GeneralName] | None = None,
) -> x509.CertificateSigningRequest:
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
    general_names: list[x509.GeneralName] = [x509.DNSName(n) for n in names or []] + (extra or [])
    if general_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names), critical=False)
    return builder.sign(key, hashes.SHA256())


@pytest.mark.parametrize(
    ("names", "cn", "key", "expected_names", "expected_cn", "key_description"),
    [
        (["www.shop.de"], None, EC_KEY, ["www.shop.de"], None, "ECDSA-P-256"),
        (
            ["www.shop.de", "shop.de"],
            "www.shop.de",
            EC_KEY,
            ["www.shop.de", "shop.de"],
            "www.shop.de",
            "ECDSA-P-256",
        ),
        (["WWW.Shop.DE", "Shop.de"], "Shop.DE", RSA_KEY, ["www.shop.de", "shop.de"], "shop.de", "RSA-2048"),
        (["*.shop.co.uk", "shop.co.uk"], None, EC_KEY, ["*.shop.co.uk", "shop.co.uk"], None, "ECDSA-P-256"),
        (["xn--bcher-kva.de"], None, EC_KEY, ["xn--bcher-kva.de"], None, "ECDSA-P-256"),
        (
            ["a-b.c-d.example.com", "1.2.3.com"],
            None,
            EC_KEY,
            ["a-b.c-d.example.com", "1.2.3.com"],
            None,
            "ECDSA-P-256",
        ),
        ([("a" * 63) + ".shop.de"], None, EC_KEY, [("a" * 63) + ".shop.de"], None, "ECDSA-P-256"),
    ],
)
def test_good_csrs_pass(
    names: list[str],
    cn: str | None,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    expected_names: list[str],
    expected_cn: str | None,
    key_description: str,
) -> None:
    csr = make_csr(names, cn, key)
    for encoded in (
        csr.public_bytes(Encoding.PEM).decode(),
        csr.public_bytes(Encoding.PEM),
        csr.public_bytes(Encoding.DER),
    ):
        checked = parse_csr(encoded)
        assert checked.dns_names == expected_names
        assert checked.common_name == expected_cn
        assert checked.key_description == key_description
        assert checked.public_key == key.public_key()


LONG_NAME = ".".join(["a" * 50] * 5) + ".de"  # 257 characters, every label short enough

BAD_NAMES = [
    (["intranet"], None, "dns_names", "single-label"),
    (["localhost"], None, "dns_names", "single-label"),
    (["printer.local"], None, "dns_names", "reserved domain .local"),
    (["db.corp.internal"], None, "dns_names", "reserved domain .internal"),
    (["app.localhost"], None, "dns_names", "reserved domain .localhost"),
    (["shop.test"], None, "dns_names", "reserved domain .test"),
    (["shop.example"], None, "dns_names", "reserved domain .example"),
    (["shop.invalid"], None, "dns_names", "reserved domain .invalid"),
    (["nas.home.arpa"], None, "dns_names", "reserved domain .home.arpa"),
    (["*.home.arpa"], None, "dns_names", "reserved domain .home.arpa"),
    (["192.168.1.1"], None, "dns_names", "IP address"),
    (["10.0.0.300"], None, "dns_names", "all-numeric top-level domain"),
    (["*.com"], None, "dns_names", "wildcard directly under a top-level domain"),
    (["*.co.uk"], None, "dns_names", "wildcard directly on the public suffix 'co.uk'"),
    (["*.kawasaki.jp"], None, "dns_names", "wildcard directly on the public suffix 'kawasaki.jp'"),
    (["co.uk"], None, "dns_names", "is a public suffix"),
    (["intranet.corp"], None, "dns_names", "does not end in a public top-level domain"),
    (["shop.notatld"], None, "dns_names", "does not end in a public top-level domain"),
    (["*"], None, "dns_names", "wildcard directly under a top-level domain"),
    (["www.*.shop.de"], None, "dns_names", "whole leftmost label"),
    (["w*.shop.de"], None, "dns_names", "whole leftmost label"),
    (["*.*.shop.de"], None, "dns_names", "whole leftmost label"),
    (["-www.shop.de"], None, "dns_names", "label '-www'"),
    (["www-.shop.de"], None, "dns_names", "label 'www-'"),
    (["_dmarc.shop.de"], None, "dns_names", "label '_dmarc'"),
    (["www..shop.de"], None, "dns_names", "label ''"),
    (["shop.de."], None, "dns_names", "must not end with a dot"),
    ([("a" * 64) + ".shop.de"], None, "dns_names", "1-63 letters"),
    ([LONG_NAME], None, "dns_names", "longer than 253"),
    (["ab--cd.shop.de"], None, "dns_names", "reserved label 'ab--cd'"),
    (["www.shop.de", "WWW.shop.de"], None, "dns_names", "'www.shop.de' is listed more than once"),
    (["www.shop.de"], "shop.de", "common_name", "'shop.de' must also be listed in the subjectAltName"),
    ([], "www.shop.de", "dns_names", "no subjectAltName DNS names"),
]


@pytest.mark.parametrize(("names", "cn", "field", "message"), BAD_NAMES)
def test_bad_names_are_rejected(names: list[str], cn: str | None, field: str, message: str) -> None:
    with pytest.raises(CsrError) as info:
        parse_csr(make_csr(names, cn).public_bytes(Encoding.PEM))
    assert info.value.field == field
    assert message in info.value.message


def test_long_name_fixture_is_really_too_long() -> None:
    assert len(LONG_NAME) > 253
    assert all(len(label) <= 63 for label in LONG_NAME.split("."))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([x509.IPAddress(ipaddress.ip_address("203.0.113.7"))], "only DNS names are accepted"),
        ([x509.RFC822Name("admin@shop.de")], "only DNS names are accepted"),
        ([x509.UniformResourceIdentifier("https://shop.de/")], "only DNS names are accepted"),
    ],
)
def test_non_dns_subject_alternative_names_are_rejected(extra: list[x509.GeneralName], message: str) -> None:
    with pytest.raises(CsrError) as info:
        parse_csr(make_csr(["www.shop.de"], extra=extra).public_bytes(Encoding.DER))
    assert info.value.field == "dns_names"
    assert message in info.value.message


@pytest.mark.parametrize(
    ("count", "max_names", "ok"), [(3, 3, True), (4, 3, False), (100, 100, True), (101, 100, False)]
)
def test_name_count_limit(count: int, max_names: int, ok: bool) -> None:
    pem = make_csr([f"host{i}.shop.de" for i in range(count)]).public_bytes(Encoding.PEM)
    if ok:
        assert len(parse_csr(pem, max_names=max_names).dns_names) == count
    else:
        with pytest.raises(CsrError) as info:
            parse_csr(pem, max_names=max_names)
        assert info.value.field == "dns_names"
        assert f"at most {max_names} are allowed" in info.value.message


def test_default_limit_is_100_names() -> None:
    with pytest.raises(CsrError, match="at most 100"):
        parse_csr(make_csr([f"host{i}.shop.de" for i in range(101)]).public_bytes(Encoding.PEM))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a csr",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        b"\x30\x03\x02\x01\x01",
    ],
)
def test_unparseable_input(data: str | bytes) -> None:
    with pytest.raises(CsrError) as info:
        parse_csr(data)
    assert info.value.field == "csr"
    assert "could not be parsed" in info.value.message


def test_tampered_signature_is_rejected() -> None:
    der = bytearray(make_csr(["www.shop.de"], key=RSA_KEY).public_bytes(Encoding.DER))
    der[-1] ^= 0x01  # RSA signature is the last field: corrupt it, keep the DER valid
    with pytest.raises(CsrError) as info:
        parse_csr(bytes(der))
    assert info.value.field == "signature"
    assert "does not match" in info.value.message


def test_csr_error_is_a_value_error_with_a_readable_str() -> None:
    error = CsrError("dns_names", "'x' is bad")
    assert isinstance(error, ValueError)
    assert str(error) == "dns_names: 'x' is bad"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("bücher.de", "non-ASCII"),
        ("", "empty DNS name"),
        ("xn--a.de", "invalid internationalised label"),
        ("xn--zz.de", "invalid internationalised label"),
        ("xn--shop-a.de", "invalid internationalised label"),
    ],
)
def test_normalise_rejects_what_cryptography_cannot_even_encode(raw: str, message: str) -> None:
    # cryptography refuses non-ASCII DNSName values, so these cases are checked directly.
    with pytest.raises(CsrError, match=message):
        normalise_dns_name(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" WWW.Shop.DE ", "www.shop.de"),
        ("*.Shop.de", "*.shop.de"),
        ("xn--mnchen-3ya.de", "xn--mnchen-3ya.de"),
    ],
)
def test_normalise_dns_name(raw: str, expected: str) -> None:
    assert normalise_dns_name(raw) == expected
