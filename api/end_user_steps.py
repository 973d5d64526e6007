"""The end user's steps (L-1, L-3), shared by the JSON API and the pages.

Each step checks the secret here, against its stored hash (``domain.secret_hashing``: keyed
hashes for one-time and download passwords, argon2id in ``api.hashing_pool`` for secret answers
and hashes made before issue 18), and tells the workflow
only whether it was right; the workflow counts, locks and moves on, and its validator
refuses at once a step it is not waiting for. Answers carry an HTTP status, an error code
and a message in the person's language; secrets never appear in them.

Nobody is stranded (issue 15): a download password, shown once, is sealed for the browser that
was shown it (domain/answer_seal.py), so when the answer is lost the same browser asking again
within the window gets the same password; 「ダウンロードパスワードを忘れた」 gives a new one for the
secret answer; and a step is refused only for where the workflow is, not for a row that has not
caught up with it.
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
from fastapi import Request, Response
from sqlmodel import select

from api import hashing_pool, throttle
from api.i18n import messages, request_language
from domain import answer_seal, secret_hashing
from domain import enrollment as e
from domain.credentials import new_download_password
from domain.pki.hierarchy import CLIENT_CA
from domain.pki.key_encryption import open_login_key
from domain.pki.profiles import to_pkcs12
from domain.settings import Settings
from domain.throttle import END_USER
from processes import login_certificates as process
from processes.client import Closed, Processes, Refused, Unavailable
from processes.login_certificates import Attempt, AttemptAnswer
from store import certificates, devices, sealed_answers
from store import passphrase as store_passphrase
from store.db import session_scope
from store.models import Enrollment, EnrollmentDraft, LoginUser, utcnow

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
    e.ANSWER_LOCKED: (423, "eu_err_forgot_locked"),
    e.RESETTING: (409, "eu_err_reset_busy"),
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
# Sealed answers are kept for these steps: the registration's secret question, the reissue's answer;
# and a download's PKCS#12 (encrypted under the download password) for the download.
SECRET_STEP, REISSUE_STEP, DOWNLOAD_STEP = "secret", "answer", "download"
# How long a retry waits for the workflow to adopt the step it already took (a few database writes).
ADOPTION_WAIT, ADOPTION_POLL = 5.0, 0.1


def apply_step_cookie(request: Request, response: Response, answer: "StepAnswer") -> Response:
    return set_step_cookie(request, response, answer.step_cookie)


def set_step_cookie(request: Request, response: Response, value: str | None) -> Response:
    if value:
        production = request.app.state.settings.production
        response.set_cookie(STEP_COOKIE, value, httponly=True, secure=production, samesite="strict",
                            path="/", max_age=3600)
    return response


def browser_secret(request: Request, link: "Link") -> str | None:
    """The random value of this browser's step cookie for this enrollment: what its sealed answers
    are sealed under. The server keeps it only as a hash (the OTP's proof) or not at all."""
    public_id, _, value = (request.cookies.get(STEP_COOKIE) or "").partition(".")
    return value if public_id == link.public_id and value else None


def holds_step_cookie(request: Request, link: "Link") -> bool:
    """Whether this browser entered the right OTP for this enrollment (and no other since)."""
    value = browser_secret(request, link)
    if value is None or not link.step_hash:
        return False
    return hmac.compare_digest(hashlib.sha256(value.encode()).hexdigest(), link.step_hash)


def new_browser_cookie(request: Request, link: "Link") -> str | None:
    """A step cookie for a browser that has none for this enrollment (the reissue's page gives it
    before the answer, so the answer can be sealed for this browser); None when it has one."""
    return None if browser_secret(request, link) else f"{link.public_id}.{secrets.token_urlsafe(24)}"


def _give_step_cookie(request: Request, link: "Link") -> str:
    value = secrets.token_urlsafe(24)
    with session_scope(request.app.state.engine) as s:
        row = s.get(Enrollment, link.id)
        if row is not None:
            row.step_hash = hashlib.sha256(value.encode()).hexdigest()
            s.add(row)
    return f"{link.public_id}.{value}"


def lock_key_of(link: "Link") -> str:
    """What a lock of this link's process is told as: a reissue's answers, or a registration's OTP."""
    return "eu_err_answer_locked" if link.kind == "reissue" else "eu_err_otp_locked"


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
        return state if e.ended(link.kind, state) else "unavailable"


def _wrong(request: Request, answer: AttemptAnswer, wrong_key: str, lock_key: str) -> StepAnswer:
    if answer.state in (e.LOCKED, e.DOWNLOAD_LOCKED, e.ANSWER_LOCKED):
        return StepAnswer(423, {"error": answer.state, "message": messages(request)(lock_key), "attempts_left": 0})
    message = messages(request)(wrong_key).format(left=answer.attempts_left)
    return StepAnswer(400, {"error": "mismatch", "message": message, "attempts_left": answer.attempts_left})


@throttled
async def submit_otp(request: Request, token: str, otp: str) -> StepAnswer:
    link = resolve(request, token, "registration")
    if link is None:
        return not_found(request)
    entered = e.normalise_otp(otp)
    correct = bool(link.otp_hash) and (await hashing_pool.verify(
        secret_hashing.verify_code, _keys(request), link.otp_hash or "", entered)).ok
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
    answer_hash = await hashing_pool.hash_chosen(e.normalise_answer(answer)) if answer else None
    password_hash = secret_hashing.hash_random(_keys(request), password)
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


def _forget_step(request: Request, refused: str, draft_id: int, sealed_id: int) -> None:
    """A refused step's draft and seal go. Not when Temporal could not answer: the workflow may have
    taken the step (its activity adopts the draft, a retry finds the seal); they expire unused."""
    if refused == "unavailable":
        return
    if draft_id:
        _drop_draft(request, draft_id)
    if sealed_id:
        sealed_answers.drop(request.app.state.engine, sealed_id)


def _seal_context(link: Link, step: str) -> str:
    return f"{link.public_id}/{step}"


def _seal(request: Request, link: Link, step: str, asked: str, password: str) -> int:
    """Keeps the password sealed for this browser before the workflow hears of the step, so an
    answer lost after the step took effect can be given again; 0 when the browser has no cookie."""
    secret = browser_secret(request, link)
    if secret is None:
        return 0
    settings: Settings = request.app.state.settings
    sealed = answer_seal.seal(secret, _seal_context(link, step), answer_seal.SealedAnswer(password, asked))
    return sealed_answers.keep(request.app.state.engine, link.id, step, sealed,
                               utcnow() + settings.answer_replay_window)


def _keys(request: Request) -> secret_hashing.HashingKeys:
    return store_passphrase.hashing_keys(request.app.state.settings)


async def _download_password_right(request: Request, stored: str, password: str) -> bool:
    """A download password against its keyed hash (or, made before issue 18, its argon2 hash: it keeps
    verifying and is not rewritten; the row is replaced within days by the next password anyway)."""
    return (await hashing_pool.verify(secret_hashing.verify_random, _keys(request), stored, password)).ok


def _live_password_hash(request: Request, link: Link) -> str | None:
    with session_scope(request.app.state.engine) as s:
        row = s.get(Enrollment, link.id)
        return row.download_password_hash if row is not None else None


async def _replay(request: Request, link: Link, step: str, asked: str) -> StepAnswer | None:
    """The answer this browser was given for this step, asked the same way, if the step took effect
    and its window is open; None otherwise (another browser opens no seal)."""
    secret = browser_secret(request, link)
    if secret is None:
        return None
    engine = request.app.state.engine
    for sealed in sealed_answers.live(engine, link.id, step, utcnow()):
        answer = answer_seal.unseal(secret, _seal_context(link, step), sealed)
        if answer is None or not hmac.compare_digest(answer.asked, asked):
            continue
        # Only a password the workflow adopted opens the download; adoption may be a moment away.
        waited = 0.0
        while True:
            live = _live_password_hash(request, link)
            if live and await _download_password_right(request, live, answer.download_password):
                return StepAnswer(200, {"download_password": answer.download_password})
            if waited >= ADOPTION_WAIT or (live and waited):
                break
            await asyncio.sleep(ADOPTION_POLL)
            waited += ADOPTION_POLL
    return None


async def workflow_state(request: Request, link: Link, step: str) -> str:
    """Where the process is, for a step that waits at ``step``: the row when it says so or says the
    process has ended; otherwise the workflow's own word (the row may not have caught up)."""
    if link.state == step or e.ended(link.kind, link.state):
        return link.state
    try:
        return await process.status(request.app.state.processes, link.workflow_id)
    except Unavailable:
        return "unavailable"
    except Closed:
        return link.state


@throttled
async def submit_secret(request: Request, token: str, question_id: str, answer: str) -> StepAnswer:
    link = resolve(request, token, "registration")
    if link is None:
        return not_found(request)
    if question_id not in e.QUESTION_IDS:
        return _invalid(request, "question_id", "eu_err_question")
    if e.answer_problem(answer):
        return _invalid(request, "answer", "eu_err_answer")
    asked = answer_seal.fingerprint(question_id, e.normalise_answer(answer))
    # Looked at here so a refused step does not even hash; the workflow has the last word.
    state = await workflow_state(request, link, e.QUESTION)
    if state != e.QUESTION:
        return await _replay(request, link, SECRET_STEP, asked) or refusal(
            request, state if state != e.OTP else "otp_first")
    if not holds_step_cookie(request, link):
        return refusal(request, "otp_again")  # the URL alone is not enough: the OTP is
    if not await _same_secret(request, link, question_id, answer):  # counted by the address throttle
        return StepAnswer(400, {"error": "mismatch", "message": messages(request)("eu_err_device_secret")})
    draft_id, password = await _draft(link, request, question_id, answer)
    sealed_id = _seal(request, link, SECRET_STEP, asked, password)
    result = await _update(request, link, process.set_secret, Attempt(True, draft_id))
    if isinstance(result, str):
        _forget_step(request, result, draft_id, sealed_id)
        return await _replay(request, link, SECRET_STEP, asked) or refusal(request, result)
    return StepAnswer(200, {"download_password": password})


async def _same_secret(request: Request, link: Link, question_id: str, answer: str) -> bool:
    """A device the user added (L-4) registers with the user's own secret question and answer;
    any other registration chooses them."""
    with session_scope(request.app.state.engine) as s:
        if devices.added_device_of(s, link.id) is None:
            return True
        user = s.get(LoginUser, link.login_user_id) if link.login_user_id else None
        chosen, stored = (user.question_id, user.answer_hash) if user else (None, None)
    return bool(stored) and chosen == question_id and (
        await hashing_pool.verify_chosen(stored or "", e.normalise_answer(answer))).ok


@throttled
async def submit_reissue_answer(request: Request, token: str, answer: str) -> StepAnswer:
    link = resolve(request, token, "reissue")
    if link is None:
        return not_found(request)
    if e.answer_problem(answer):
        return _invalid(request, "answer", "eu_err_answer")
    answer_hash = _answer_hash(request, link)
    correct = bool(answer_hash) and (await hashing_pool.verify_chosen(answer_hash or "",
                                                                      e.normalise_answer(answer))).ok
    asked = answer_seal.fingerprint(e.normalise_answer(answer))
    draft_id, password = await _draft(link, request, None, None) if correct else (0, "")
    sealed_id = _seal(request, link, REISSUE_STEP, asked, password) if correct else 0
    result = await _update(request, link, process.answer, Attempt(correct, draft_id))
    if isinstance(result, str):
        _forget_step(request, result, draft_id, sealed_id)
        replayed = await _replay(request, link, REISSUE_STEP, asked) if correct else None
        return replayed or refusal(request, result, lock_key="eu_err_answer_locked")
    if not result.accepted:
        return _wrong(request, result, "eu_err_answer_wrong", "eu_err_answer_locked")
    return StepAnswer(200, {"download_password": password})


@throttled
async def submit_forgotten_password(request: Request, token: str, answer: str) -> StepAnswer:
    """「ダウンロードパスワードを忘れた」: the secret answer, and a new download password shown once.
    Only while the key waits to be downloaded; a retry that lost its answer just asks again."""
    link = resolve(request, token, "")
    if link is None:
        return not_found(request)
    if e.answer_problem(answer):
        return _invalid(request, "answer", "eu_err_answer")
    lock_key = lock_key_of(link)
    state = await workflow_state(request, link, e.DOWNLOAD)
    if state != e.DOWNLOAD:
        return refusal(request, state, lock_key=lock_key)
    answer_hash = _answer_hash(request, link)
    correct = bool(answer_hash) and (await hashing_pool.verify_chosen(answer_hash or "",
                                                                      e.normalise_answer(answer))).ok
    draft_id, password = await _draft(link, request, None, None) if correct else (0, "")
    result = await _update(request, link, process.reset_download_password, Attempt(correct, draft_id))
    if isinstance(result, str):
        _forget_step(request, result, draft_id, 0)
        return refusal(request, result, lock_key=lock_key)
    if not result.accepted:
        return _wrong(request, result, "eu_err_answer_wrong", "eu_err_forgot_locked")
    return StepAnswer(200, {"download_password": password})


def _answer_hash(request: Request, link: Link) -> str | None:
    with session_scope(request.app.state.engine) as s:
        user = s.get(LoginUser, link.login_user_id) if link.login_user_id else None
        return user.answer_hash if user else None


async def _replay_download(request: Request, link: Link, password: str) -> StepAnswer | None:
    """The PKCS#12 handed over moments ago, for the same download password, inside its window."""
    kept = sealed_answers.live(request.app.state.engine, link.id, DOWNLOAD_STEP, utcnow())
    if not kept or not link.download_password_hash:
        return None  # looked at first: a password is hashed only when there is something to give
    if not await _download_password_right(request, link.download_password_hash, password):
        return None
    return StepAnswer(200, pkcs12=kept[0], filename=f"{link.public_id}.p12")


def _pkcs12(request: Request, link: Link, password: str) -> bytes | None:
    """The PKCS#12 for this download, built before the workflow is told (which discards the key)."""
    settings: Settings = request.app.state.settings
    engine = request.app.state.engine
    with session_scope(engine) as s:
        cert = certificates.certificate_record(s, CLIENT_CA, link.certificate_serial)
        if cert is None or cert.private_key_pem is None or cert.der is None:
            return None
        key_pem, der = cert.private_key_pem, cert.der
    key = open_login_key(key_pem, store_passphrase.passphrase(settings))
    chain = [c for c in (certificates.ca_certificate(engine, CLIENT_CA),) if c is not None]
    return to_pkcs12(x509.load_der_x509_certificate(der), key, chain, password)  # type: ignore[arg-type]


@throttled
async def submit_download(request: Request, token: str, password: str) -> StepAnswer:
    """The PKCS#12 for the download password. The file is kept (it is encrypted under that password)
    for the answer window, so a download whose answer was lost is given again for the same password."""
    link = resolve(request, token, "")
    if link is None:
        return not_found(request)
    lock_key = lock_key_of(link)
    if link.state in (e.DOWNLOADED, e.DELIVERING):
        return await _replay_download(request, link, password) or refusal(request, link.state, lock_key=lock_key)
    if link.state != e.DOWNLOAD:
        return refusal(request, link.state, lock_key=lock_key)
    correct = bool(link.download_password_hash) and await _download_password_right(
        request, link.download_password_hash or "", password)
    bundle = await asyncio.to_thread(_pkcs12, request, link, password) if correct else None
    if correct and bundle is None:
        return refusal(request, "unavailable")  # our fault, not a wrong password: nothing counted
    settings: Settings = request.app.state.settings
    sealed_id = sealed_answers.keep(request.app.state.engine, link.id, DOWNLOAD_STEP, bundle,
                                    utcnow() + settings.answer_replay_window) if bundle else 0
    result = await _update(request, link, process.download, Attempt(correct))
    if isinstance(result, str):
        _forget_step(request, result, 0, sealed_id)
        # Given again only when the workflow says the download happened (an earlier attempt's answer
        # was lost); never on its silence, which leaves the key where it is.
        taken = correct and result in (e.DOWNLOADED, e.DELIVERING)
        replayed = await _replay_download(request, link, password) if taken else None
        return replayed or refusal(request, result, lock_key=lock_key)
    if not result.accepted or bundle is None:
        return _wrong(request, result, "eu_err_download_wrong", "eu_err_download_locked")
    return StepAnswer(200, pkcs12=bundle, filename=f"{link.public_id}.p12")
