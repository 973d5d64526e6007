"""Every error answer: ``{"error": code, "message": text}`` in the request's language.

The code is the contract (clients branch on it); the message comes from the catalogue
(``err_<code>``, ``domain/locales``) with its ``{placeholders}`` filled, so no sentence lives
in Python and a person reads their own language. Bad input is 422 with one entry per field
(``fields: [{"field", "message"}]``), the messages translated from the validator's error type,
never a library's English and never the submitted value. A page request (a browser asking
for HTML) gets the same answer as a page.

Errors from the workflows arrive as ``processes.client`` exceptions and are mapped here once:
``Unavailable`` → 503, ``Refused`` → the status its code calls for, ``Closed`` → 409.
"""

import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from api.i18n import messages
from processes.client import Closed, Refused, Unavailable

log = logging.getLogger("certdesk.api.errors")

# A refusal from a workflow's validator, by its code (the ApplicationError type): how it reaches the person.
STATUS_OF_REFUSAL = {"not_open": 409, "unknown_task": 409, "bad_outcome": 422, "note_required": 422,
                     "note_too_long": 422, "forbidden": 403}


class ApiError(Exception):
    """Raised where a handler cannot simply return: answered as ``error(...)``."""

    def __init__(self, status: int, code: str, headers: dict[str, str] | None = None, key: str | None = None,
                 **params: Any) -> None:
        super().__init__(code)
        self.status, self.code, self.headers, self.key, self.params = status, code, headers, key, params


class InvalidFields(Exception):
    """A request's bad fields ({"field", "message"} each), answered 422 or shown next to each field."""

    def __init__(self, fields: list[dict[str, str]]) -> None:
        super().__init__("invalid input")
        self.fields = fields


def text(request: Request, code: str, key: str | None = None, **params: Any) -> str:
    """The message ``err_<key or code>`` in the request's language (the code itself if the catalogue lacks it)."""
    name = f"err_{key or code}"
    template = messages(request)(name)
    if template == name:
        return code
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


def error(request: Request, status: int, code: str, key: str | None = None, field_name: str | None = None,
          **params: Any) -> JSONResponse:
    """``{"error", "message"}``; with ``field_name`` also ``fields`` naming it, as validation errors do."""
    body: dict[str, Any] = {"error": code, "message": text(request, code, key, **params)}
    if field_name is not None:
        body["fields"] = [{"field": field_name, "message": body["message"]}]
    return JSONResponse(body, status_code=status)


def field_message(request: Request, kind: str, ctx: dict[str, Any] | None = None) -> str:
    """A validator's error type (pydantic's ``type``, or our own code) as a sentence."""
    t = messages(request)
    # Our own field rules (domain/profile.py) name their codes ``profile_err_<code>``.
    template = next((text for key in (f"val_{kind}", f"profile_err_{kind}") if (text := t(key)) != key),
                    t("val_invalid"))
    try:
        return template.format(**{k: v for k, v in (ctx or {}).items() if isinstance(v, int | str)})
    except (KeyError, IndexError, ValueError):
        return t("val_invalid")


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body", "query", "path", "form"))


def validation_fields(request: Request, errors: list[Any]) -> list[dict[str, str]]:
    fields = []
    for e in errors:
        ctx = dict(e.get("ctx") or {})
        kind = e["type"]
        if kind == "value_error" and isinstance(ctx.get("error"), ValueError):
            kind = str(ctx["error"])  # our validators raise ValueError("<code>")
        # Unparsable JSON is located at a character offset ("body", 12): the field is the body itself.
        field = "body" if kind == "json_invalid" else _field_name(e["loc"])
        fields.append({"field": field, "message": field_message(request, kind, ctx)})
    return fields


Body = TypeVar("Body")


def form_body(request: Request, build: Callable[[dict[str, str]], Body], values: dict[str, str]
              ) -> tuple[dict[str, str], Body]:
    """A form's values as the request body ``build`` makes of them, and each field's message where
    one does not parse; such a field is stood in for ("-") so that the other checks still run and
    every problem is shown at once."""
    try:
        return {}, build(values)
    except ValidationError as exc:
        invalid = {f["field"]: f["message"] for f in validation_fields(request, exc.errors())}
        return invalid, build({**values, **{k: "-" for k in invalid}})


def invalid(request: Request, fields: list[dict[str, str]]) -> Response:
    """422 naming each bad field; nothing was stored or started. A browser gets the error page."""
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return _answer(request, 422, {"error": "invalid_input", "message": message, "fields": fields})


def invalid_from(request: Request, exc: ValidationError) -> Response:
    return invalid(request, validation_fields(request, exc.errors()))


def refusal_text(request: Request, refused: Refused) -> str:
    """A workflow's refusal in the person's language: its code's message (the workflow's own words
    are for the history, in English), else those words."""
    key = f"err_{refused.code}"
    template = messages(request)(key)
    # A text that needs details the workflow did not send is no better than its own words.
    return refused.message if template == key or "{" in template else template


def refusal_status(code: str) -> int:
    return STATUS_OF_REFUSAL.get(code, 409)


def wants_page(request: Request) -> bool:
    """A person's browser asking for a page (not the JSON API, not a machine endpoint)."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def _answer(request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    if wants_page(request):
        from api.rendering import render  # pages only; rendering imports the templates

        page = render(request, "error.html", status=status, message=body.get("message", ""))
        page.status_code = status
        return page
    return JSONResponse(body, status_code=status, headers=headers)


async def http_error(request: Request, exc: HTTPException) -> Response:
    """An HTTPException: its detail as ``{"error", "message"}`` (a dict detail is taken as it is)."""
    if isinstance(exc.detail, dict):
        body = exc.detail
    else:
        code = {404: "not_found", 405: "method_not_allowed", 401: "login_required", 403: "forbidden"}.get(
            exc.status_code, "error")
        body = {"error": code, "message": text(request, code)}
    return _answer(request, exc.status_code, body, exc.headers)


def install(app: FastAPI) -> None:
    """The handlers every app of certdesk uses."""
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]

    @app.exception_handler(RequestValidationError)
    async def invalid_input(request: Request, exc: RequestValidationError) -> Response:
        return invalid(request, validation_fields(request, list(exc.errors())))

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        body = {"error": exc.code, "message": text(request, exc.code, exc.key, **exc.params)}
        return _answer(request, exc.status, body, exc.headers)

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> Response:
        log.warning("%s %s: Temporal unavailable (%s)", request.method, request.url.path, exc)
        return _answer(request, 503, {"error": "unavailable", "message": text(request, "unavailable")},
                       {"Retry-After": "5"})

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return _answer(request, refusal_status(exc.code), {"error": exc.code, "message": refusal_text(request, exc)})

    @app.exception_handler(Closed)
    async def closed(request: Request, exc: Closed) -> Response:
        return _answer(request, 409, {"error": "closed", "message": text(request, "closed")})


def install_login_redirects(app: FastAPI) -> None:
    """Pages that need a login send the browser to the right login page, then back."""
    from api.customer_auth import CustomerLoginRequired, PasswordChangeRequired
    from api.staff_auth import StaffLoginRequired

    @app.exception_handler(CustomerLoginRequired)
    async def to_customer_login(request: Request, exc: CustomerLoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(PasswordChangeRequired)
    async def to_password_change(request: Request, exc: PasswordChangeRequired) -> RedirectResponse:
        return RedirectResponse("/account/password", status_code=303)

    @app.exception_handler(StaffLoginRequired)
    async def to_staff_login(request: Request, exc: StaffLoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/desk/login?next={quote(request.url.path)}", status_code=303)
