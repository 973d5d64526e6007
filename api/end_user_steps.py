"""The end user's steps (L-1, L-3), shared by the JSON API and the pages.

Each step checks the secret here, against the stored argon2id hash, and tells the workflow
only whether it was right; the workflow counts, locks and moves on, and its validator
refuses at once a step it is not waiting for. Answers carry an HTTP status, an error code
and a message in the person's language; secrets never appear in them.
"""

import asyncio
import functools
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from fastapi import Request, Response
from sqlmodel import select

from api import throttle
from api.i18n import messages, request_language
from domain import enrollment as e
from domain.credentials import hash_password, new_download_password, verify_password
from domain.pki.hierarchy import CLIENT_CA
from domain.pki.profiles import to_pkcs12
from domain.settings import Settings
from domain.throttle import END_USER
from processes import login_certificates as process
from processes.client import Closed, Processes, Refused, Unavailable
from processes.login_certificates import Attempt, AttemptAnswer
from store import certificates
from store import passphrase as store_passphrase
from store.db import session_scope
from store.models import Enrollment, EnrollmentDraft, LoginUser

# How a process state that refuses a step reaches the person: (HTTP status, message key).
REFUSALS: dict[str, tuple[int, str]] = {
    e.EXPIRED: (410, "eu_err_expired"),
    e.REPLACED: (410, "eu_err_replaced"),
    e.LOCKED: (423, "eu_err_otp_locked"),
    e.REJECTED: (410, "eu_err_rejected"),
    e.DOWNLOADED: (410, "eu_err_downloaded"),
    e.DOWNLOAD_EXPIRED: (410, "eu_err_download_expired"),
    e.DOWNLOAD_LOCKED: (423, "eu_err_download_locked"),
    e.REGISTERING: (409, "eu_err_not_ready"),
    e.ISSUING: (409, "eu_err_not_ready"),
    e.DELIVERING: (409, "eu_err_not_ready"),
    "unavailable": (503, "eu_err_unavailable"),
    "otp_first": (409, "eu_err_otp_first"),
    "otp_again": (403, "eu_err_otp_again"),
}


@dataclass
class StepAnswer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    pkcs12: bytes | None = None
    filename: str = ""
    step_cookie: str | None = None  # set it on the response (the OTP was right)
    retry_after: int | None = None  # seconds, when throttled (429)

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class Link:
    """What a token names: the enrollment row's facts the steps need."""

    id: int
    public_id: str
    kind: str
    state: str
    workflow_id: str
    otp_hash: str | None
    step_hash: str | None
    download_password_hash: str | None
    login_user_id: int | None
    certificate_serial: str | None
    certificate_name: str
    language: str


STEP_COOKIE = "certdesk_enroll_step"




def apply_step_cookie(request: Request, response: Response, answer: "StepAnswer") -> Response:
    if answer.step_cookie:
        production = request.app.state.settings.production
        response.set_cookie(STEP_COOKIE, answer.step_cookie, httponly=True, secure=production, samesite="strict",
                            path="/", max_age=3600)
    return response


def holds_step_cookie(request: Request, link: "Link") -> bool:
    """Whether this browser entered the right OTP for this enrollment (and no other since)."""
    public_id, _, value = (request.cookies.get(STEP_COOKIE) or "").partition(".")
    if public_id != link.public_id or not value or not link.step_hash:
        return False
    return hmac.compare_digest(hashlib.sha256(value.encode()).hexdigest(), link.step_hash)


def _give_step_cookie(request: Request, link: "Link") -> str:
    value = secrets.token_urlsafe(24)
    with session_scope(request.app.state.engine) as s:
        row = s.get(Enrollment, link.id)
        if row is not None:
            row.step_hash = hashlib.sha256(value.encode()).hexdigest()
            s.add(row)
    return f"{link.public_id}.{value}"


def refusal(request: Request, code: str, lock_key: str = "eu_err_otp_locked") -> StepAnswer:
    status, key = REFUSALS.get(code, (409, "eu_err_state"))
    if code == e.LOCKED:
        key = lock_key
    return StepAnswer(status, {"error": code, "message": messages(request)(key)})


def resolve(request: Request, token: str, kind: str) -> Link | None:
    settings: Settings = request.app.state.settings
    public_id = e.public_id_of(e.link_key(store_passphrase.passphrase(settings)), token)
    if public_id is None:
        return None
    with session_scope(request.app.state.engine) as s:
        row = s.exec(select(Enrollment).where(Enrollment.public_id == public_id)).first()
        if row is None or (kind and row.kind != kind):
            return None
        return Link(int(row.id or 0), row.public_id, row.kind, row.state, row.workflow_id, row.otp_hash,
                    row.step_hash, row.download_password_hash, row.login_user_id, row.certificate_serial,
                    row.certificate_name, row.language)


def _invalid(request: Request, field: str, key: str) -> StepAnswer:
    return StepAnswer(422, {"error": "invalid_input", "field": field, "message": messages(request)(key)})


def not_found(request: Request) -> StepAnswer:
    return StepAnswer(404, {"error": "not_found", "message": messages(request)("eu_err_not_found")})


# Answers that are a guess gone wrong (a wrong secret, a token that names nothing, a lock, the question
# without the OTP first): counted against the caller's address by the throttle.
GUESS_STATUSES = frozenset({400, 403, 404, 423})


def throttled(step: Callable[..., Awaitable[StepAnswer]]) -> Callable[..., Awaitable[StepAnswer]]:
    """A step behind the address throttle (issue 14), in front of the workflow's own attempt rules."""

    @functools.wraps(step)
    async def guarded(request: Request, *args: str) -> StepAnswer:
        try:
            throttle.check(request, END_USER)
        except throttle.Throttled as too_many:
            return StepAnswer(429, {"error": "too_many_attempts", "message": throttle.message(request, too_many)},
                              retry_after=too_many.seconds)
        answer = await step(request, *args)
        if answer.status in GUESS_STATUSES:
            throttle.failed(request, END_USER)
        return answer

    return guarded


# A step of a process: ``processes.login_certificates.enter_otp``, ``set_secret``, ``answer``, ``download``.
Step = Callable[[Processes, str, Attempt], Awaitable[AttemptAnswer]]


async def _update(request: Request, link: Link, step: Step, attempt: Attempt) -> AttemptAnswer | str:
    """The workflow's answer, or the state that refused the step ("unavailable": nothing was counted)."""
    try:
        return await step(request.app.state.processes, link.workflow_id, attempt)
    except Refused as exc:
        return "error" if exc.code == "refused" else exc.code  # a refusal without a state
    except Unavailable:
        return "unavailable"
    except Closed:
        # The process has ended (its workflow is closed): the row says how.
        with session_scope(request.app.state.engine) as s:
            row = s.get(Enrollment, link.id)
            state = row.state if row is not None else ""
        return state if state in e.ENDED else "unavailable"


def _wrong(request: Request, answer: AttemptAnswer, wrong_key: str, lock_key: str) -> StepAnswer:
    if answer.state in (e.LOCKED, e.DOWNLOAD_LOCKED):
        return StepAnswer(423, {"error": answer.state, "message": messages(request)(lock_key), "attempts_left": 0})
    message = messages(request)(wrong_key).format(left=answer.attempts_left)
    return StepAnswer(400, {"error": "mismatch", "message": message, "attempts_left": answer.attempts_left})


@throttled
async def submit_otp(request: Request, token: str, otp: str) -> StepAnswer:
    link = resolve(request, token, "registration")
    if link is None:
        return not_found(request)
    entered = e.normalise_otp(otp)
    correct = bool(link.otp_hash) and await asyncio.to_thread(verify_password, link.otp_hash or "", entered)
    answer = await _update(request, link, process.enter_otp, Attempt(correct))
    if isinstance(answer, str):
        return refusal(request, answer)
    if not answer.accepted:
        return _wrong(request, answer, "eu_err_otp_wrong", "eu_err_otp_locked")
    lang = request_language(request)
    return StepAnswer(200, {"questions": [{"id": q.id, "text": q.text(lang)} for q in e.QUESTIONS]},
                      step_cookie=_give_step_cookie(request, link))


async def _draft(link: Link, request: Request, question_id: str | None, answer: str | None) -> tuple[int, str]:
    """Hashes for a secret step, stored under a draft id; returns (draft id, download password)."""
    password = new_download_password()
    answer_hash = await asyncio.to_thread(hash_password, e.normalise_answer(answer)) if answer else None
    password_hash = await asyncio.to_thread(hash_password, password)
    with session_scope(request.app.state.engine) as s:
        draft = EnrollmentDraft(enrollment_id=link.id, question_id=question_id, answer_hash=answer_hash,
                                download_password_hash=password_hash)
        s.add(draft)
        s.flush()
        return int(draft.id or 0), password


def _drop_draft(request: Request, draft_id: int) -> None:
    with session_scope(request.app.state.engine) as s:
        draft = s.get(EnrollmentDraft, draft_id)
        if draft is not None:
            s.delete(draft)


@throttled
async def submit_secret(request: Request, token: str, question_id: str, answer: str) -> StepAnswer:
    link = resolve(request, token, "registration")
    if link is None:
        return not_found(request)
    if question_id not in e.QUESTION_IDS:
        return _invalid(request, "question_id", "eu_err_question")
    if e.answer_problem(answer):
        return _invalid(request, "answer", "eu_err_answer")
    if link.state != e.QUESTION:
        # Checked here too so a refused step does not even hash; the workflow has the last word.
        return refusal(request, link.state if link.state != e.OTP else "otp_first")
    if not holds_step_cookie(request, link):
        return refusal(request, "otp_again")  # the URL alone is not enough: the OTP is
    draft_id, password = await _draft(link, request, question_id, answer)
    result = await _update(request, link, process.set_secret, Attempt(True, draft_id))
    if isinstance(result, str):
        _drop_draft(request, draft_id)
        return refusal(request, result)
    return StepAnswer(200, {"download_password": password})


@throttled
async def submit_reissue_answer(request: Request, token: str, answer: str) -> StepAnswer:
    link = resolve(request, token, "reissue")
    if link is None:
        return not_found(request)
    if e.answer_problem(answer):
        return _invalid(request, "answer", "eu_err_answer")
    with session_scope(request.app.state.engine) as s:
        user = s.get(LoginUser, link.login_user_id) if link.login_user_id else None
        answer_hash = user.answer_hash if user else None
    correct = bool(answer_hash) and await asyncio.to_thread(verify_password, answer_hash or "",
                                                             e.normalise_answer(answer))
    draft_id, password = await _draft(link, request, None, None) if correct else (0, "")
    result = await _update(request, link, process.answer, Attempt(correct, draft_id))
    if isinstance(result, str):
        if draft_id:
            _drop_draft(request, draft_id)
        return refusal(request, result, lock_key="eu_err_answer_locked")
    if not result.accepted:
        return _wrong(request, result, "eu_err_answer_wrong", "eu_err_answer_locked")
    return StepAnswer(200, {"download_password": password})


def _pkcs12(request: Request, link: Link, password: str) -> bytes | None:
    """The PKCS#12 for this download, built before the workflow is told (which discards the key)."""
    settings: Settings = request.app.state.settings
    engine = request.app.state.engine
    with session_scope(engine) as s:
        cert = certificates.certificate_record(s, CLIENT_CA, link.certificate_serial)
        if cert is None or cert.private_key_pem is None or cert.der is None:
            return None
        key_pem, der = cert.private_key_pem, cert.der
    key = load_pem_private_key(key_pem.encode(), store_passphrase.passphrase(settings).encode())
    chain = [c for c in (certificates.ca_certificate(engine, CLIENT_CA),) if c is not None]
    return to_pkcs12(x509.load_der_x509_certificate(der), key, chain, password)  # type: ignore[arg-type]


@throttled
async def submit_download(request: Request, token: str, password: str) -> StepAnswer:
    link = resolve(request, token, "")
    if link is None:
        return not_found(request)
    lock_key = "eu_err_answer_locked" if link.kind == "reissue" else "eu_err_otp_locked"
    if link.state != e.DOWNLOAD:
        return refusal(request, link.state, lock_key=lock_key)
    correct = bool(link.download_password_hash) and await asyncio.to_thread(
        verify_password, link.download_password_hash or "", password)
    bundle = await asyncio.to_thread(_pkcs12, request, link, password) if correct else None
    if correct and bundle is None:
        return refusal(request, "unavailable")  # our fault, not a wrong password: nothing counted
    result = await _update(request, link, process.download, Attempt(correct))
    if isinstance(result, str):
        return refusal(request, result, lock_key=lock_key)
    if not result.accepted or bundle is None:
        return _wrong(request, result, "eu_err_download_wrong", "eu_err_download_locked")
    return StepAnswer(200, pkcs12=bundle, filename=f"{link.public_id}.p12")
