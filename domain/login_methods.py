"""Login methods (L-5, 付録 2): what a tenant's contract allows, what a user chose, what a login needs.

A method is a set of factors: the login certificate (``certificate``), a TOTP code from an
authenticator app (``otp``), or both together (``certificate+otp``). The OpenID Connect login
asks for exactly the factors of the user's method and states them in ``amr`` (RFC 8176 values
where one exists; ``x509`` for the certificate, as the issue names it).
"""

from typing import Final

CERTIFICATE: Final = "certificate"
OTP: Final = "otp"
BOTH: Final = "certificate+otp"
METHODS: Final = (CERTIFICATE, OTP, BOTH)
DEFAULT_METHOD: Final = CERTIFICATE
DEFAULT_ALLOWED: Final = CERTIFICATE  # a tenant's contract, until it says otherwise


def factors(method: str) -> frozenset[str]:
    """The factors a login with ``method`` must present: {"certificate"}, {"otp"} or both."""
    if method not in METHODS:
        raise ValueError(f"unknown login method {method!r}")
    return frozenset(method.split("+"))


def parse_allowed(text: str) -> tuple[str, ...]:
    """A contract's allowed methods, stored comma-separated ("certificate,otp"); unknown ones dropped."""
    return tuple(m for m in dict.fromkeys(p.strip() for p in text.split(",")) if m in METHODS)


def amr(presented: frozenset[str]) -> list[str]:
    """``amr`` for the factors a login presented: ["x509"], ["otp"], or ["mfa", "otp", "x509"]."""
    values = sorted({"certificate": "x509", "otp": "otp"}[f] for f in presented)
    return ["mfa", *values] if len(values) > 1 else values


def message_name(method: str) -> str:
    """The method's part of its message keys (``lm_method_<name>``, ``lm_about_<name>``): "certificate_otp"."""
    if method not in METHODS:
        raise ValueError(f"unknown login method {method!r}")
    return method.replace("+", "_")
