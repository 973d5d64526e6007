"""Key acceptance rules: each weak-key kind is rejected with a message naming the problem."""

from __future__ import annotations

import random
from math import prod

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from domain.pki.csr import parse_csr
from domain.pki.errors import CsrError
from domain.pki.keys import (
    _ROCA_MASKS,
    SMALL_PRIMES,
    check_public_key,
    check_rsa_numbers,
    fermat_factor,
    is_roca_vulnerable,
)

RNG = random.Random(20240229)  # deterministic test keys; not used for anything secret


def is_probable_prime(n: int) -> bool:
    if n < 2:
        return False
    for p in [2, *SMALL_PRIMES]:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(8):
        x = pow(RNG.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def next_prime(n: int) -> int:
    n += 1 + n % 2  # next odd number above n
    while not (is_probable_prime(n) and (n - 1) % 65537):
        n += 2
    return n


def random_prime(bits: int) -> int:
    # Top two bits set so that the product of two such primes has exactly 2*bits bits.
    return next_prime(RNG.getrandbits(bits) | (3 << (bits - 2)))


def private_key_from_primes(p: int, q: int, e: int = 65537) -> rsa.RSAPrivateKey:
    d = pow(e, -1, (p - 1) * (q - 1))
    public = rsa.RSAPublicNumbers(e, p * q)
    return rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
    ).private_key()


def roca_prime(bits: int) -> int:
    """A prime of the Infineon RSALib form k*M + (65537^a mod M)."""
    m = prod(r for r, _ in _ROCA_MASKS)
    g = pow(65537, RNG.randrange(1, 2**20), m)
    k = RNG.randrange((3 << (bits - 2)) // m, (1 << bits) // m)
    while not (is_probable_prime(k * m + g) and (k * m + g - 1) % 65537):
        k += 1
    return k * m + g


def csr_for(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.shop.de")]), critical=False)
        .sign(key, hashes.SHA256())
        .public_bytes(Encoding.DER)
    )


GOOD_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
GOOD_N = GOOD_RSA.public_key().public_numbers().n
FERMAT_P = random_prime(1024)
FERMAT_Q = next_prime(FERMAT_P + 2**20)  # primes far too close together
ROCA_P, ROCA_Q = roca_prime(1024), roca_prime(1024)
P1026, Q1026 = random_prime(1026), random_prime(1026)
# 2048-bit moduli whose smallest prime factor is 3 and 997 respectively.
DIVISIBLE_BY_3 = 3 * ((1 << 2046) + 2 * RNG.getrandbits(2040) + 1)
DIVISIBLE_BY_997 = 997 * random_prime(1019) * random_prime(1019)


@pytest.mark.parametrize(
    ("modulus", "exponent", "message"),
    [
        pytest.param(random_prime(512) * random_prime(512), 65537, "1024 bits; at least 2048", id="rsa-1024"),
        pytest.param(P1026 * Q1026, 65537, "(2052 bits) must be a multiple of 8", id="modulus-2052-bits"),
        pytest.param(GOOD_N, 65536, "must be odd", id="even-exponent"),
        pytest.param(GOOD_N, 3, "between 65537 and 2^256-1", id="exponent-3"),
        pytest.param(GOOD_N, 2**256 + 1, "between 65537 and 2^256-1", id="exponent-too-big"),
        pytest.param(DIVISIBLE_BY_3, 65537, "small prime 3", id="factor-3"),
        pytest.param(DIVISIBLE_BY_997, 65537, "small prime 997", id="factor-997"),
        pytest.param(FERMAT_P * FERMAT_Q, 65537, "Fermat", id="fermat-close-primes"),
        pytest.param(ROCA_P * ROCA_Q, 65537, "ROCA", id="roca-fingerprint"),
    ],
)
def test_weak_rsa_numbers_are_rejected(modulus: int, exponent: int, message: str) -> None:
    with pytest.raises(CsrError) as info:
        check_rsa_numbers(modulus, exponent)
    assert info.value.field == "public_key"
    assert message in info.value.message


def test_a_good_rsa_key_passes_every_check() -> None:
    assert check_public_key(GOOD_RSA.public_key()) == "RSA-2048"
    assert fermat_factor(GOOD_N) is None
    assert not is_roca_vulnerable(GOOD_N)


def test_constructed_moduli_have_the_intended_shape() -> None:
    assert DIVISIBLE_BY_3.bit_length() == DIVISIBLE_BY_997.bit_length() == 2048
    assert not any(DIVISIBLE_BY_997 % p == 0 for p in SMALL_PRIMES if p < 997)
    assert (ROCA_P * ROCA_Q).bit_length() == 2048


def test_fermat_finds_the_close_factors() -> None:
    assert fermat_factor(FERMAT_P * FERMAT_Q) == (FERMAT_P, FERMAT_Q)


def test_roca_masks_match_the_original_detector() -> None:
    # First fingerprints from crocs-muni/roca detect.py: primes 3, 5, 7, 11.
    assert [mask for _, mask in _ROCA_MASKS[:4]] == [6, 30, 126, 1026]
    assert len(_ROCA_MASKS) == 38


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param(ec.generate_private_key(ec.SECP256R1()), "ECDSA-P-256", id="p256"),
        pytest.param(ec.generate_private_key(ec.SECP384R1()), "ECDSA-P-384", id="p384"),
        pytest.param(rsa.generate_private_key(public_exponent=65537, key_size=3072), "RSA-3072", id="rsa3072"),
    ],
)
def test_accepted_key_types(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, expected: str) -> None:
    assert check_public_key(key.public_key()) == expected


@pytest.mark.parametrize(
    ("key", "message"),
    [
        pytest.param(ec.generate_private_key(ec.SECP521R1()), "secp521r1 is not accepted", id="p521"),
        pytest.param(ec.generate_private_key(ec.SECP256K1()), "secp256k1 is not accepted", id="secp256k1"),
        pytest.param(ed25519.Ed25519PrivateKey.generate(), "is not accepted; use RSA or ECDSA", id="ed25519"),
    ],
)
def test_rejected_key_types(key: object, message: str) -> None:
    with pytest.raises(CsrError) as info:
        check_public_key(key.public_key())  # type: ignore[attr-defined]
    assert info.value.field == "public_key"
    assert message in info.value.message


@pytest.mark.parametrize(
    ("key", "message"),
    [
        pytest.param(private_key_from_primes(ROCA_P, ROCA_Q), "ROCA", id="roca"),
        pytest.param(private_key_from_primes(FERMAT_P, FERMAT_Q), "Fermat", id="fermat"),
        pytest.param(
            rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505 - deliberately weak
            "at least 2048",
            id="rsa-1024",
        ),
        pytest.param(ec.generate_private_key(ec.SECP521R1()), "secp521r1", id="p521"),
    ],
)
def test_weak_keys_are_rejected_through_a_signed_csr(key: object, message: str) -> None:
    with pytest.raises(CsrError) as info:
        parse_csr(csr_for(key))  # type: ignore[arg-type]
    assert info.value.field == "public_key"
    assert message in str(info.value)
