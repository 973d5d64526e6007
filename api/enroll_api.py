"""The end user's JSON API (L-1, L-3): the twins of the registration, reissue and download pages.

No login: the link's token names the enrollment, and each step asks for its own secret.
"""

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api import end_user_steps as steps

router = APIRouter(prefix="/api/v1")


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
    return steps.apply_step_cookie(request, response, answer)


@router.post("/enroll/{token}/otp")
async def enter_otp(request: Request, token: str, body: OtpEntry) -> Response:
    return as_json(request, await steps.submit_otp(request, token, body.one_time_password))


@router.post("/enroll/{token}/secret")
async def set_secret(request: Request, token: str, body: SecretEntry) -> Response:
    return as_json(request, await steps.submit_secret(request, token, body.question_id, body.answer))


@router.post("/reissue/{token}/answer")
async def answer_secret(request: Request, token: str, body: AnswerEntry) -> Response:
    return as_json(request, await steps.submit_reissue_answer(request, token, body.answer))


@router.post("/downloads/{token}")
async def download(request: Request, token: str, body: DownloadEntry) -> Response:
    return as_json(request, await steps.submit_download(request, token, body.download_password))
