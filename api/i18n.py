"""Per-request language: ``?lang=`` then the ``lang`` cookie then Accept-Language; Japanese by default.

The words themselves are data, in ``domain/locales/<lang>/*.json``, read by ``domain.messages``.
"""

from collections.abc import Callable, Mapping

from fastapi import Request

from domain.messages import LANGUAGES, catalogue, translator

__all__ = ["LANGUAGES", "MESSAGES", "language_of", "messages", "request_language", "translator"]

# language -> its whole table, for callers that look a key up themselves (``MESSAGES[lang].get(key)``).
MESSAGES: Mapping[str, Mapping[str, str]] = {lang: catalogue(lang) for lang in LANGUAGES}


def language_of(request: Request, default: str = "ja") -> str:
    for candidate in (request.query_params.get("lang"), request.cookies.get("lang")):
        if candidate in LANGUAGES:
            return candidate
    accept = request.headers.get("accept-language", "")
    for part in accept.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return default


def request_language(request: Request) -> str:
    """The request's language, defaulting to the deployment's (``CERTDESK_LANGUAGE``)."""
    return language_of(request, request.app.state.settings.language)


def messages(request: Request) -> Callable[[str], str]:
    """The translator for this request's language: ``messages(request)(key)``."""
    return translator(request_language(request))
