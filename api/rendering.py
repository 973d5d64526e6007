"""Jinja2 pages in the request's language."""

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.i18n import request_language, translator
from store.models import utcnow

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def render(request: Request, template: str, **context: object) -> HTMLResponse:
    lang = request_language(request)
    # csp_nonce: set by api.security_headers for this answer; inline <style> carries it.
    response = TEMPLATES.TemplateResponse(request, template, {"lang": lang, "t": translator(lang),
                                                              "csp_nonce": getattr(request.state, "csp_nonce", ""),
                                                              **context})
    if request.query_params.get("lang") == lang:
        response.set_cookie("lang", lang, samesite="lax", httponly=True, max_age=365 * 86400)
    return response


def desk_page(request: Request, template: str, staff: object | None, status: int = 200,
              **context: object) -> HTMLResponse:
    """A staff desk page (``desk/…``): ``local(moment)`` shows a time in the deployment's zone,
    ``now`` marks what is overdue; ``staff`` is the logged-in person (None on the login page)."""
    zone = ZoneInfo(request.app.state.settings.timezone)

    def local(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value is not None else ""

    response = render(request, template, staff=staff, local=local, now=utcnow(), **context)
    response.status_code = status
    return response
