"""A refused CSR is told in the person's language, next to the CSR field: every refusal of the PKI
core carries a code with ja/en text, and no library English (``ParseError { kind: ShortData }``)
ever reaches a page or a JSON answer."""

import ast
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from markupsafe import escape
from sqlalchemy import Engine
from sqlmodel import select

from domain.messages import catalogue
from domain.pki.csr import parse_csr
from domain.pki.errors import CSR_CODES, CsrError
from store.db import session_scope
from store.models import Application
from tests import test_application_pages as base
from tests.test_application_pages import Pages, _csrf, _form
from tests.test_certificate_authority import make_csr

pages = base.pages  # the fixture
ROOT = Path(__file__).resolve().parent.parent
JA, EN = catalogue("ja"), catalogue("en")
GOOD = make_csr("www.example.co.jp")
BODY = "".join(GOOD.splitlines()[1:-1])
TRUNCATED = f"-----BEGIN CERTIFICATE REQUEST-----\n{BODY[:64]}\n-----END CERTIFICATE REQUEST-----"


def _p521_csr() -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).add_extension(
        x509.SubjectAlternativeName([x509.DNSName("www.example.co.jp")]), critical=False)
    return builder.sign(ec.generate_private_key(ec.SECP521R1()), hashes.SHA256()).public_bytes(Encoding.PEM).decode()


def _raised_codes() -> list[tuple[str, int, str | None]]:
    """(file, line, code) of every ``CsrError(...)`` the PKI core raises."""
    found = []
    for path in sorted((ROOT / "domain" / "pki").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "CsrError":
                code = node.args[2] if len(node.args) > 2 else next(
                    (k.value for k in node.keywords if k.arg == "code"), None)
                found.append((path.name, node.lineno, code.value if isinstance(code, ast.Constant) else None))
    return found


def test_every_refusal_of_the_pki_core_has_a_known_code_with_text_in_both_languages() -> None:
    raised = _raised_codes()
    assert len(raised) >= 35  # the walk found them
    assert [r for r in raised if r[2] not in CSR_CODES] == []
    for code in CSR_CODES:
        assert f"csr_{code}" in JA and f"csr_{code}" in EN


@pytest.mark.parametrize(("csr", "code"), [
    (TRUNCATED, "unparsable"),
    ("hello", "unparsable"),
    (f"{GOOD}\njunk", "not_one_pem_block"),
    ("-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----", "not_one_pem_block"),
    (make_csr("intranet"), "single_label"),
    (make_csr("www.example.test"), "reserved_domain"),
    (make_csr("192.0.2.1"), "ip_address"),
    (_p521_csr(), "curve_not_accepted"),
])
def test_each_problem_has_its_code(csr: str, code: str) -> None:
    with pytest.raises(CsrError) as refused:
        parse_csr(csr)
    assert refused.value.code == code
    text = JA[f"csr_{code}"].format(**refused.value.params)  # every placeholder is given
    assert "{" not in text


async def test_the_form_and_the_api_say_it_in_the_persons_language(pages: Pages, engine: Engine) -> None:
    csrf = await _csrf(pages.customer)
    for lang, t in (("ja", JA), ("en", EN)):
        page = await pages.customer.post(f"/account/apply/confirm?lang={lang}", data=_form(csrf, TRUNCATED))
        assert page.status_code == 422
        assert f'<span class="field-error" id="f-csr-err">{escape(t["csr_unparsable"])}</span>' in page.text
        assert "ParseError" not in page.text and "ShortData" not in page.text
        named = await pages.customer.post(f"/account/apply/confirm?lang={lang}",
                                          data=_form(csrf, make_csr("www.example.test")))
        message = t["csr_reserved_domain"].format(name="www.example.test", suffix="test")
        assert f'id="f-csr-err">{escape(message)}</span>' in named.text
        answer = await pages.customer.post("/api/v1/applications", headers={"x-csrf-token": csrf,
                                                                            "accept-language": lang},
                                           json={"product": "ov", "agree_terms": True, "csr": TRUNCATED})
        assert answer.status_code == 422
        assert {"field": "csr.csr", "message": t["csr_unparsable"]} in answer.json()["fields"]
        assert not re.search(r"ParseError|ShortData|could not be parsed", answer.text)
    with session_scope(engine) as s:
        assert s.exec(select(Application)).all() == []  # nothing stored
