"""domain/login_methods.py: the factors of each method, a contract's allowed list, amr, message names."""

import pytest

from domain import login_methods as lm


@pytest.mark.parametrize(("method", "factors", "amr", "name"), [
    ("certificate", {"certificate"}, ["x509"], "certificate"),
    ("otp", {"otp"}, ["otp"], "otp"),
    ("certificate+otp", {"certificate", "otp"}, ["mfa", "otp", "x509"], "certificate_otp"),
])
def test_each_method(method: str, factors: set[str], amr: list[str], name: str) -> None:
    assert lm.factors(method) == factors
    assert lm.amr(lm.factors(method)) == amr
    assert lm.message_name(method) == name


@pytest.mark.parametrize("method", ["", "password", "otp+certificate", "CERTIFICATE"])
def test_unknown_methods_are_refused(method: str) -> None:
    with pytest.raises(ValueError, match="unknown login method"):
        lm.factors(method)
    with pytest.raises(ValueError, match="unknown login method"):
        lm.message_name(method)


@pytest.mark.parametrize(("text", "allowed"), [
    ("certificate", ("certificate",)),
    ("certificate,otp", ("certificate", "otp")),
    (" otp , certificate+otp ,otp", ("otp", "certificate+otp")),
    ("certificate,sms,", ("certificate",)),
    ("", ()),
])
def test_parse_allowed(text: str, allowed: tuple[str, ...]) -> None:
    assert lm.parse_allowed(text) == allowed
