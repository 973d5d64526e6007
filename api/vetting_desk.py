"""The vetting desk's checks (S-2 審査): organization, phone callback and EV checks recorded on a
review task, and what approval stands on — the same facts the workflow's validator judges by.

JSON: ``GET/POST /api/v1/tasks/{id}/checks``. The desk's form posts to ``/desk/tasks/{id}/checks``
(``api.tasks``, next to the task's other forms).
"""

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import Engine as SqlEngine

from api import domain_validations as vetting_pages
from api.deps import Engine, Staff, Workflows
from api.errors import ApiError, invalid, text
from api.i18n import messages
from api.ids import TaskId
from api.staff_auth import StaffPrincipal
from domain.vetting import checks, corporate_number
from domain.vetting.checklist import approval_refusals
from processes import vetting_checks as process
from processes.client import Closed, Processes, Refused
from store import tasks as task_store
from store import vetting as dcv_records
from store import vetting_checks as records
from store.models import Task, utcnow

router = APIRouter()
REVIEW_KINDS = ("application_review", "documents_check")


class BadEntry(Exception):
    """A check the rules refuse: the field and the code of its message (``err_<code>``)."""

    def __init__(self, field: str, code: str) -> None:
        super().__init__(code)
        self.field, self.code = field, code


class CheckForm(BaseModel):
    check: str = Field(min_length=1, max_length=40)
    source: str = Field(min_length=1, max_length=40)
    reference: str = Field("", max_length=checks.REFERENCE_MAX)
    outcome: str = Field(min_length=1, max_length=20)
    note: str = Field("", max_length=checks.NOTE_MAX)


def application_of(task: Task) -> int | None:
    """The application a review task vets, else None."""
    return dcv_records.application_of_subject(task.subject) if task.kind in REVIEW_KINDS else None


def missing_words(request: Request, codes: list[str]) -> list[str]:
    """The checklist's codes (``code`` or ``code:name``) as the desk reads them."""
    t = messages(request)
    words = []
    for code in codes:
        code, _, name = code.partition(":")
        key = f"vet_refusal_{code}" if code in vetting_pages.APPROVAL_REFUSALS else "vet_refusal_other"
        words.append(t(key).format(name=name, code=code))
    return words


async def record(engine: SqlEngine, processes: Processes, task: Task, staff: StaffPrincipal,
                 form: CheckForm) -> list[str]:
    """Records the check through the application's workflow; what still stops approval.

    ``BadEntry`` for a bad field, ``ApiError`` when refused otherwise; nothing is kept then.
    """
    application_id = application_of(task)
    if application_id is None:
        raise ApiError(409, "not_vetting", key="vet_check_not_vetting")
    if task.state == "done":
        raise ApiError(409, "not_open", key="vet_check_task_done")
    if task.state == "claimed" and task.assignee != staff.username:
        raise ApiError(409, "conflict", key="claimed_by", assignee=task.assignee)
    refused = checks.refusal(form.check, form.source, form.reference, form.outcome, form.note)
    if refused is not None:
        raise BadEntry(*refused)
    try:
        return await process.record_check(processes, application_id, form.check, form.source, form.reference,
                                          form.outcome, form.note, staff.actor)
    except Refused as no:
        raise ApiError(409 if no.code == "not_vetting" else 422, no.code,
                       key="vet_check_not_vetting" if no.code == "not_vetting" else no.code) from None
    except Closed:
        raise ApiError(409, "not_vetting", key="vet_check_not_vetting") from None


def _counting_json(counting: dict[str, checks.CountingCheck]) -> dict[str, Any]:
    return {c: {"checked_at": found.checked_at.isoformat(), "source": found.source,
                "reused_from_application": found.reused_from} for c, found in counting.items()}


def review(request: Request, task: Task) -> dict[str, Any] | None:
    """What the desk shows for a review task: the comparison and domains (``desk_review``), the
    recorded checks, what counts (and what is reused from an earlier application), the checklist."""
    base = vetting_pages.desk_review(request, task)
    application_id = application_of(task)
    if base is None or application_id is None:
        return base
    engine = request.app.state.engine
    standing = records.approval_standing(engine, application_id, utcnow())
    missing = approval_refusals(standing.facts)
    number = str(base["application"].organization.get("registration_number") or "").strip()
    required = ("organization", "phone_callback", *(checks.EV_CHECKS if standing.facts.level == "ev" else ()))
    return {**base, "refusals": [{"code": c.partition(":")[0], "text": w}
                                 for c, w in zip(missing, missing_words(request, missing), strict=True)],
            "checks": records.of_application(engine, application_id), "counting": standing.counting,
            "required_checks": required, "sources": checks.SOURCES, "level": standing.facts.level,
            "corporate_number": _corporate_number(number) if number else None}


def _corporate_number(registration: str) -> dict[str, str | None]:
    """The 法人番号 the application's 登記番号 gives (to look up at the NTA's site), or why none."""
    found = corporate_number.from_registration(registration)
    digits = corporate_number.normalise(registration)
    problem = None if found else corporate_number.check(digits) if len(digits) == 13 else "corporate_number_format"
    return {"value": registration, "corporate": found, "problem": problem}


# --- JSON ---------------------------------------------------------------------------------------------

def _review_task(engine: SqlEngine, task_id: int) -> Task:
    task = task_store.get_task(engine, task_id)
    if task is None:
        raise ApiError(404, "not_found", key="no_such_task")
    return task


def _answer(engine: SqlEngine, application_id: int) -> dict[str, Any]:
    standing = records.approval_standing(engine, application_id, utcnow())
    return {"checks": [records.as_json(r) for r in records.of_application(engine, application_id)],
            "counting": _counting_json(standing.counting), "missing": approval_refusals(standing.facts)}


@router.get("/api/v1/tasks/{task_id}/checks")
async def checks_json(task_id: TaskId, staff: Staff, engine: Engine) -> dict[str, Any]:
    application_id = application_of(_review_task(engine, task_id))
    if application_id is None:
        raise ApiError(409, "not_vetting", key="vet_check_not_vetting")
    return _answer(engine, application_id)


@router.post("/api/v1/tasks/{task_id}/checks")
async def record_json(request: Request, task_id: TaskId, body: CheckForm, staff: Staff, engine: Engine,
                      processes: Workflows) -> Any:
    task = _review_task(engine, task_id)
    try:
        await record(engine, processes, task, staff, body)
    except BadEntry as bad:
        return invalid(request, [{"field": bad.field, "message": text(request, bad.code)}])
    return _answer(engine, int(application_of(task) or 0))
