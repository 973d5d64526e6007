"""A refused CSR in the person's language: ``csr_<code>`` (domain/locales/*/csr.json) with its
details. The PKI core's English (and the parsing library's, such as ``ParseError { kind:
ShortData }``) stays in logs; every page and JSON answer that refuses a CSR says it through here."""

from fastapi import Request

from api.i18n import messages
from domain.pki.errors import CsrError


def csr_text(request: Request, refused: CsrError) -> str:
    t = messages(request)
    key = f"csr_{refused.code}"
    template = t(key)
    if template == key:  # a code without its text yet: the general sentence, never the English
        return t("csr_invalid")
    try:
        return template.format(**refused.params)
    except (KeyError, IndexError, ValueError):
        return t("csr_invalid")


def csr_problem(request: Request, refused: CsrError) -> dict[str, str]:
    """``{"field": "csr.<part>", "message"}`` as the API's 422 and the forms show it."""
    return {"field": f"csr.{refused.field}", "message": csr_text(request, refused)}
