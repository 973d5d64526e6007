"""The constructed email's link (BR 3.2.2.4.4): the page its recipient enters the value on.

``GET /dcv/{token}`` shows the name, the applicant's organization and a field for the value;
``POST /dcv/{token}`` (the form) and ``POST /api/v1/dcv/{token}`` ``{"value"}`` (its JSON twin)
take it. No login: whoever holds the link is the mailbox's reader. The value is compared here;
a wrong one is counted (``store.vetting``, locked after ``EMAIL_MAX_ATTEMPTS``), a right one goes
to the DomainValidation workflow (``processes.vetting.confirm_email``), whose check — the ADN's
MX set corroborated by the perspectives — decides. An unknown or replaced link answers 404, a
used or expired one 410, a locked one 423, each as a page in the person's language.

The token never leaves this request: only its hash is stored, and nothing here logs the path.
"""

import hmac
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from api import errors
from api.deps import Workflows
from api.i18n import messages
from api.rendering import render
from processes import vetting as process
from processes.client import Closed, Processes, Refused, Unavailable
from store import vetting as records

router = APIRouter()

# same-origin: the link's token never goes to another site, and the page's own form keeps its Origin (api/csrf.py).
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin", "X-Robots-Tag": "noindex"}
VALUE_MAX = 128  # the longest Random Value certdesk makes (domain.vetting.dcv)
# Why a link takes no value -> (HTTP status, message key). The workflow's refusals by their codes.
REFUSALS: dict[str, tuple[int, str]] = {
    "unknown": (404, "dcv_email_err_unknown"),
    "replaced": (404, "dcv_email_err_unknown"),
    "expired": (410, "dcv_email_err_expired"),
    "closed": (410, "dcv_email_err_expired"),
    "validated": (410, "dcv_email_err_used"),
    "locked": (423, "dcv_email_err_locked"),
    "not_waiting": (409, "dcv_email_err_not_ready"),
    "unavailable": (503, "dcv_email_err_unavailable"),
}


class ValueEntry(BaseModel):
    value: str = Field(min_length=1, max_length=VALUE_MAX)


@dataclass
class Answer:
    status: int
    code: str  # validated | pending | wrong_value | invalid_input | a REFUSALS code
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    reason: str = ""  # the workflow's check, when it ran

    @property
    def refused(self) -> bool:
        return self.code in REFUSALS


def _refusal(code: str) -> Answer:
    status, key = REFUSALS[code]
    return Answer(status, code, key)


async def submit(request: Request, processes: Processes, token: str, value: str) -> Answer:
    """The value entered on the link: checked, counted, or handed to the workflow."""
    engine = request.app.state.engine
    link = records.email_link(engine, token)
    if link is None:
        return _refusal("unknown")
    if (why := link.usable) is not None:
        return _refusal(why)
    entered = value.strip()
    if not entered or len(entered) > VALUE_MAX:
        return Answer(422, "invalid_input", "dcv_email_err_value_required")
    if not hmac.compare_digest(entered.encode(), link.random_value.encode()):
        left = records.EMAIL_MAX_ATTEMPTS - records.wrong_email_value(engine, link)
        return _refusal("locked") if left <= 0 else Answer(400, "wrong_value", "dcv_email_err_wrong_value",
                                                          {"left": left})
    try:
        result = await process.confirm_email(processes, link.application_id, link.validation_id, link.generation)
    except Refused as refused:
        return _refusal(refused.code if refused.code in REFUSALS else "not_waiting")
    except Closed:
        return _refusal("closed")
    except Unavailable:
        return _refusal("unavailable")  # answered here: the error handler would log the path (the token)
    records.email_value_entered(engine, link, result.state, result.reason)
    if result.state == "validated":
        return Answer(200, "validated", "dcv_email_validated", {"name": link.name}, result.reason)
    return Answer(202, "pending", "dcv_email_mx_not_corroborated", {"name": link.name}, result.reason)


def _text(request: Request, answer: Answer) -> str:
    return messages(request)(answer.key).format(**answer.params)


# --- JSON --------------------------------------------------------------------------------------------

@router.post("/api/v1/dcv/{token}")
async def enter_json(request: Request, token: str, body: ValueEntry, workflows: Workflows) -> Response:
    answer = await submit(request, workflows, token, body.value)
    message = _text(request, answer)
    if answer.code == "invalid_input":
        response = errors.invalid(request, [{"field": "value", "message": message}])
    elif answer.status < 300:
        response = JSONResponse({"status": answer.code, "reason": answer.reason, "message": message},
                                status_code=answer.status)
    else:
        extra = {"attempts_left": answer.params["left"]} if answer.code == "wrong_value" else {}
        response = JSONResponse({"error": answer.code, "message": message, **extra}, status_code=answer.status)
    response.headers.update(PRIVATE)
    return response


# --- the page ----------------------------------------------------------------------------------------

def _page(request: Request, template: str, status: int, **ctx: Any) -> Response:
    response = render(request, f"dcv/{template}", **ctx)
    response.status_code = status
    response.headers.update(PRIVATE)
    return response


def _form(request: Request, token: str, link: records.EmailLink, status: int = 200, error: str = "") -> Response:
    return _page(request, "email.html", status, token=token, link=link, error=error)


def _notice(request: Request, answer: Answer) -> Response:
    return _page(request, "notice.html", answer.status, message=_text(request, answer), ok=answer.status < 300)


@router.get("/dcv/{token}", response_class=HTMLResponse)
async def email_page(request: Request, token: str) -> Response:
    link = records.email_link(request.app.state.engine, token)
    if link is None:
        return _notice(request, _refusal("unknown"))
    why = link.usable
    return _form(request, token, link) if why is None else _notice(request, _refusal(why))


@router.post("/dcv/{token}", response_class=HTMLResponse)
async def enter_page(request: Request, token: str, workflows: Workflows,
                     value: Annotated[str, Form()] = "") -> Response:
    answer = await submit(request, workflows, token, value)
    if answer.code in ("wrong_value", "invalid_input"):
        link = records.email_link(request.app.state.engine, token)
        if link is not None:
            return _form(request, token, link, answer.status, _text(request, answer))
    return _notice(request, answer)
