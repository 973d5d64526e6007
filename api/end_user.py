"""The end user's pages and their JSON twins (L-1, L-3; manual sections 2, 3 and 5).

Pages: ``GET/POST /enroll/{token}`` (ワンタイムパスワード → 次へ) → ``POST /enroll/{token}/secret`` (秘密の質問
and its answer → 登録) → the download password, shown once. ``GET/POST /reissue/{token}`` (秘密の質問答え →
送信) → a new download password. ``GET/POST /download/{token}`` → the PKCS#12. ``GET /help/download``:
the download manual the mail links to.

``GET/POST /download/{token}/forgot``: 「ダウンロードパスワードを忘れた」 (秘密の質問答え → 再設定) → a new
download password, shown once.

JSON: ``POST /api/v1/enroll/{token}/otp``, ``/api/v1/enroll/{token}/secret``,
``/api/v1/reissue/{token}/answer``, ``/api/v1/downloads/{token}``,
``/api/v1/downloads/{token}/password-reset``; ``GET /api/v1/reissue/{token}/question`` and
``/api/v1/downloads/{token}/question`` (the user's secret question; the first also gives the
step cookie the answer is sealed for, as the reissue page does).

Thin: every step is ``api.end_user_steps``'s; a page or a JSON answer only chooses how to show it.
No login: the token in the URL names the enrollment and each step asks for its own secret, so the
pages are ``no-store`` and send no referrer to other sites. No secret is ever put back into a form.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from api import end_user_steps as steps
from api.i18n import LANGUAGES, messages, request_language
from api.rendering import render
from domain import enrollment as e
from store.db import session_scope
from store.models import LoginUser

router = APIRouter()

# same-origin, not no-referrer: the link (with its token) never goes to another site either way, but
# under no-referrer browsers send "Origin: null" with the page's own forms, which api/csrf.py refuses.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin", "X-Robots-Tag": "noindex"}
OTP_MAX, QUESTION_ID_MAX, ANSWER_MAX, DOWNLOAD_PASSWORD_MAX = 40, 40, 200, 100  # as the JSON twins accept
# After the person's step, before the download: the mail with the download URL is on its way.
IN_PROGRESS = (e.REGISTERING, e.ISSUING, e.DOWNLOAD, e.DELIVERING)


def _page(request: Request, template: str, status: int = 200, **ctx: Any) -> Response:
    chosen = request.query_params.get("lang")
    response = render(request, f"enduser/{template}", questions=e.QUESTIONS,
                      lang_query=f"?lang={chosen}" if chosen in LANGUAGES else "", **ctx)
    response.status_code = status
    response.headers.update(PRIVATE)
    return response


def _notice(request: Request, answer: steps.StepAnswer, title: str = "eu_notice_title") -> Response:
    """A refusal (expired, locked, downloaded, ...) with its message and status; no form."""
    if answer.status == 404:
        title = "eu_not_found_title"
    response = _page(request, "notice.html", answer.status, title=title, message=answer.body.get("message", ""),
                     ok=answer.status < 400)
    return _retry_after(response, answer)


def _retry_after(response: Response, answer: steps.StepAnswer) -> Response:
    if answer.retry_after:  # throttled (429)
        response.headers["Retry-After"] = str(answer.retry_after)
    return response


def _message(request: Request, status: int, title: str, key: str) -> Response:
    return _page(request, "notice.html", status, title=title, message_key=key, ok=status < 400)


def _not_found(request: Request) -> Response:
    return _notice(request, steps.not_found(request))


def _question_of(request: Request, link: steps.Link) -> e.SecretQuestion | None:
    """The secret question the user chose at registration."""
    if not link.login_user_id:
        return None
    with session_scope(request.app.state.engine) as s:
        user = s.get(LoginUser, link.login_user_id)
        question_id = user.question_id if user is not None else None
    return e.QUESTION_IDS.get(question_id or "")


# --- the JSON twins ----------------------------------------------------------------------------

class OtpEntry(BaseModel):
    one_time_password: str = Field(min_length=1, max_length=40)


class SecretEntry(BaseModel):
    question_id: str = Field(min_length=1, max_length=40)
    answer: str = Field(min_length=1, max_length=200)


class AnswerEntry(BaseModel):
    answer: str = Field(min_length=1, max_length=200)


class DownloadEntry(BaseModel):
    download_password: str = Field(min_length=1, max_length=100)


def as_json(request: Request, answer: steps.StepAnswer) -> Response:
    if answer.pkcs12 is not None:
        return Response(answer.pkcs12, media_type="application/x-pkcs12",
                        headers={"Content-Disposition": f'attachment; filename="{answer.filename}"',
                                 "Cache-Control": "no-store"})
    response = JSONResponse(answer.body, status_code=answer.status, headers={"Cache-Control": "no-store"})
    return steps.apply_step_cookie(request, _retry_after(response, answer), answer)


@router.post("/api/v1/enroll/{token}/otp")
async def enter_otp_json(request: Request, token: str, body: OtpEntry) -> Response:
    return as_json(request, await steps.submit_otp(request, token, body.one_time_password))


@router.post("/api/v1/enroll/{token}/secret")
async def set_secret_json(request: Request, token: str, body: SecretEntry) -> Response:
    return as_json(request, await steps.submit_secret(request, token, body.question_id, body.answer))


@router.post("/api/v1/reissue/{token}/answer")
async def answer_secret_json(request: Request, token: str, body: AnswerEntry) -> Response:
    return as_json(request, await steps.submit_reissue_answer(request, token, body.answer))


@router.post("/api/v1/downloads/{token}")
async def download_json(request: Request, token: str, body: DownloadEntry) -> Response:
    return as_json(request, await steps.submit_download(request, token, body.download_password))


@router.post("/api/v1/downloads/{token}/password-reset")
async def reset_download_password_json(request: Request, token: str, body: AnswerEntry) -> Response:
    return as_json(request, await steps.submit_forgotten_password(request, token, body.answer))


def _question_json(request: Request, token: str, kind: str) -> Response:
    link = steps.resolve(request, token, kind)
    if link is None:
        return as_json(request, steps.not_found(request))
    question = _question_of(request, link)
    lang = request_language(request)
    body = {"state": link.state, "question": {"id": question.id, "text": question.text(lang)} if question else None}
    response = JSONResponse(body, headers={"Cache-Control": "no-store"})
    return steps.set_step_cookie(request, response, steps.new_browser_cookie(request, link) if kind else None)


@router.get("/api/v1/reissue/{token}/question")
async def reissue_question_json(request: Request, token: str) -> Response:
    return _question_json(request, token, "reissue")


@router.get("/api/v1/downloads/{token}/question")
async def download_question_json(request: Request, token: str) -> Response:
    return _question_json(request, token, "")


# --- registration (manual section 2) ---------------------------------------------------------

def _registration(request: Request, token: str, link: steps.Link) -> Response:
    """The page for where the registration is now: the step it waits for, or what happened."""
    if link.state == e.OTP:
        return _page(request, "otp.html", token=token)
    if link.state == e.QUESTION:
        if steps.holds_step_cookie(request, link):
            return _page(request, "question.html", token=token, info="eu_otp_accepted")
        # The URL alone does not open the question: whoever sets it proves the OTP here first.
        return _page(request, "otp.html", token=token)
    if link.state in IN_PROGRESS:
        return _message(request, 200, "eu_enroll_title", "eu_registered")
    return _notice(request, steps.refusal(request, link.state), "eu_enroll_title")


def _after_refusal(request: Request, token: str, kind: str, answer: steps.StepAnswer, step: str) -> Response:
    """A step refused because the process is at another step (409): that step's page. Otherwise the
    refusal itself, also when the row still names this step (the workflow has moved on and the row
    follows a moment later: the secret was just set, say)."""
    link = steps.resolve(request, token, kind) if answer.status == 409 else None
    if link is None or link.state == step:
        return _notice(request, answer, "eu_reissue_title" if kind == "reissue" else "eu_enroll_title")
    return _reissue(request, token, link) if kind == "reissue" else _registration(request, token, link)


@router.get("/enroll/{token}", response_class=HTMLResponse)
async def enroll_page(request: Request, token: str) -> Response:
    link = steps.resolve(request, token, "registration")
    return _not_found(request) if link is None else _registration(request, token, link)


@router.post("/enroll/{token}", response_class=HTMLResponse)
async def enter_otp(request: Request, token: str, one_time_password: Annotated[str, Form()] = "") -> Response:
    if steps.resolve(request, token, "registration") is None:
        return _not_found(request)
    if not one_time_password.strip() or len(one_time_password) > OTP_MAX:
        return _page(request, "otp.html", 422, token=token, error=_t(request, "eu_err_input_otp"))
    answer = await steps.submit_otp(request, token, one_time_password)
    if answer.ok:
        return steps.apply_step_cookie(request, _page(request, "question.html", token=token), answer)
    if answer.status == 400:
        return _page(request, "otp.html", 400, token=token, error=answer.body["message"])
    return _after_refusal(request, token, "registration", answer, e.OTP)


@router.get("/enroll/{token}/secret", include_in_schema=False)
async def secret_page(request: Request, token: str) -> Response:
    """Only reached by reloading or switching language on a result page: the enrollment's own page."""
    if steps.resolve(request, token, "registration") is None:
        return _not_found(request)
    chosen = request.query_params.get("lang")
    query = f"?lang={chosen}" if chosen in LANGUAGES else ""
    return RedirectResponse(f"/enroll/{token}{query}", status_code=303, headers=PRIVATE)


@router.post("/enroll/{token}/secret", response_class=HTMLResponse)
async def set_secret(request: Request, token: str, question_id: Annotated[str, Form()] = "",
                     answer: Annotated[str, Form()] = "") -> Response:
    if len(answer) > ANSWER_MAX or len(question_id) > QUESTION_ID_MAX:  # the JSON twin's bounds
        if steps.resolve(request, token, "registration") is None:
            return _not_found(request)
        field = "answer" if len(answer) > ANSWER_MAX else "question_id"
        return _page(request, "question.html", 422, token=token, error_field=field,
                     error=_t(request, "eu_err_answer" if field == "answer" else "eu_err_question"))
    result = await steps.submit_secret(request, token, question_id, answer)
    if result.ok:
        return _page(request, "password.html", password=result.body["download_password"],
                     done="eu_password_registered")
    if result.status == 422:
        return _page(request, "question.html", 422, token=token, error=result.body["message"],
                     selected=question_id if question_id in e.QUESTION_IDS else "",
                     error_field=result.body.get("field", ""))
    if result.body.get("error") == "otp_again":
        return _page(request, "otp.html", 403, token=token, error=result.body["message"])
    return _after_refusal(request, token, "registration", result, e.QUESTION)


# --- reissue (manual section 5) ---------------------------------------------------------------

def _reissue(request: Request, token: str, link: steps.Link, status: int = 200, error: str = "") -> Response:
    if link.state == e.ANSWER:
        return _page(request, "reissue.html", status, token=token, question=_question_of(request, link), error=error)
    if link.state in IN_PROGRESS:
        return _message(request, 200, "eu_reissue_title", "eu_reissue_accepted")
    return _notice(request, steps.refusal(request, link.state, lock_key="eu_err_answer_locked"), "eu_reissue_title")


@router.get("/reissue/{token}", response_class=HTMLResponse)
async def reissue_page(request: Request, token: str) -> Response:
    link = steps.resolve(request, token, "reissue")
    if link is None:
        return _not_found(request)
    # The browser's step cookie, before the answer: the new download password is sealed for it.
    return steps.set_step_cookie(request, _reissue(request, token, link), steps.new_browser_cookie(request, link))


@router.post("/reissue/{token}", response_class=HTMLResponse)
async def answer_secret(request: Request, token: str, answer: Annotated[str, Form()] = "") -> Response:
    if len(answer) > ANSWER_MAX:  # the JSON twin's bound
        link = steps.resolve(request, token, "reissue")
        if link is None:
            return _not_found(request)
        return _reissue(request, token, link, 422, _t(request, "eu_err_answer"))
    result = await steps.submit_reissue_answer(request, token, answer)
    if result.ok:
        return _page(request, "password.html", password=result.body["download_password"],
                     done="eu_password_reissued")
    if result.status in (400, 422):
        link = steps.resolve(request, token, "reissue")
        if link is not None:
            return _page(request, "reissue.html", result.status, token=token, question=_question_of(request, link),
                         error=result.body["message"])
    return _after_refusal(request, token, "reissue", result, e.ANSWER)


# --- download (manual section 3) ---------------------------------------------------------------

def _download(request: Request, token: str, link: steps.Link, status: int = 200, error: str = "") -> Response:
    if link.state == e.DOWNLOAD:
        return _page(request, "download.html", status, token=token, error=error)
    if link.state in (e.OTP, e.QUESTION, e.ANSWER, e.REGISTERING, e.ISSUING):
        key = "eu_err_not_ready" if link.state in (e.REGISTERING, e.ISSUING) else "eu_download_not_yet"
        return _message(request, 409, "eu_download_title", key)
    return _notice(request, steps.refusal(request, link.state, lock_key=steps.lock_key_of(link)), "eu_download_title")


@router.get("/download/{token}", response_class=HTMLResponse)
async def download_page(request: Request, token: str) -> Response:
    link = steps.resolve(request, token, "")
    return _not_found(request) if link is None else _download(request, token, link)


@router.post("/download/{token}", response_class=HTMLResponse)
async def download(request: Request, token: str, download_password: Annotated[str, Form()] = "") -> Response:
    link = steps.resolve(request, token, "")
    if link is None:
        return _not_found(request)
    if link.state not in (e.DOWNLOAD, e.DOWNLOADED):  # refused before counting; say why on this page
        return _download(request, token, link)
    if not download_password or len(download_password) > DOWNLOAD_PASSWORD_MAX:  # the JSON twin's bounds
        return _download(request, token, link, 422, _t(request, "eu_err_input_password"))
    result = await steps.submit_download(request, token, download_password)
    if result.pkcs12 is not None:
        return Response(result.pkcs12, media_type="application/x-pkcs12",
                        headers={**PRIVATE, "Content-Disposition": f'attachment; filename="{result.filename}"',
                                 "X-Content-Type-Options": "nosniff"})
    if result.status == 400:
        return _page(request, "download.html", 400, token=token, error=result.body["message"])
    return _notice(request, result, "eu_download_title")


# --- 「ダウンロードパスワードを忘れた」 --------------------------------------------------------------

def _forgot(request: Request, token: str, link: steps.Link, status: int = 200, error: str = "") -> Response:
    if link.state != e.DOWNLOAD:
        return _download(request, token, link)
    return _page(request, "forgot.html", status, token=token, question=_question_of(request, link), error=error)


@router.get("/download/{token}/forgot", response_class=HTMLResponse)
async def forgot_page(request: Request, token: str) -> Response:
    link = steps.resolve(request, token, "")
    return _not_found(request) if link is None else _forgot(request, token, link)


@router.post("/download/{token}/forgot", response_class=HTMLResponse)
async def reset_download_password(request: Request, token: str, answer: Annotated[str, Form()] = "") -> Response:
    link = steps.resolve(request, token, "")
    if link is None:
        return _not_found(request)
    if len(answer) > ANSWER_MAX:  # the JSON twin's bound
        return _forgot(request, token, link, 422, _t(request, "eu_err_answer"))
    result = await steps.submit_forgotten_password(request, token, answer)
    if result.ok:
        return _page(request, "password.html", password=result.body["download_password"],
                     done="eu_password_reset_done", after="eu_password_reset_mail", download_token=token)
    if result.status in (400, 422):
        return _forgot(request, token, link, result.status, result.body["message"])
    return _notice(request, result, "eu_forgot_title")


@router.get("/help/download", response_class=HTMLResponse)
async def download_manual(request: Request) -> Response:
    response = render(request, "enduser/help_download.html")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _t(request: Request, key: str) -> str:
    """A message in the page's language (as ``render`` chooses it)."""
    return str(messages(request)(key))
