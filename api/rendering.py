"""Jinja2 pages in the request's language."""

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.i18n import request_language, translator

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def render(request: Request, template: str, **context: object) -> HTMLResponse:
    lang = request_language(request)
    response = TEMPLATES.TemplateResponse(request, template, {"lang": lang, "t": translator(lang), **context})
    if request.query_params.get("lang") == lang:
        response.set_cookie("lang", lang, samesite="lax", httponly=True, max_age=365 * 86400)
    return response
