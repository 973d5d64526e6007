"""The Web ステッカー's public side (S-8): no login, nothing but what the seal vouches for.

``/seal/{public_id}``: the verification page a seal links to: the organization, the domains,
the validity and the status now, read from the CA's records at each request (a revocation shows
at once; the answer is never cached). ``/seal/{public_id}/seal.svg`` and ``seal.png``
(``?size=s|m|l``, ``&download=1`` to save it): the seal image, grey and "NOT VALID" once the
certificate is not; browsers revalidate it each time (``no-cache``). ``/api/v1/seals/{public_id}``
is the JSON twin. An id that names nothing answers 404, the same as one that never existed.
"""

from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.rendering import render
from domain import seal_image, site_seal
from store import seals
from store.models import utcnow

router = APIRouter()
SizeParam = Annotated[str, Query(pattern="^(s|m|l)$")]
# The page and the images follow the CA's records at once: never stored, images revalidated.
PAGE_CACHE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
IMAGE_CACHE = {"Cache-Control": "no-cache", "X-Robots-Tag": "noindex"}


def _facts(request: Request, public_id: str) -> seals.SealFacts:
    facts = seals.lookup(request.app.state.engine, public_id, utcnow())
    if facts is None:
        raise ApiError(404, "not_found", key="seal_not_found")
    return facts


def _image_headers(facts: seals.SealFacts, size: str, kind: str, download: bool) -> dict[str, str]:
    headers = dict(IMAGE_CACHE)
    if download:
        name = site_seal.seal_file_name(facts.first_name, size, kind)
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return headers


@router.get("/seal/{public_id}", response_class=HTMLResponse)
async def seal_page(request: Request, public_id: str) -> Response:
    facts = _facts(request, public_id)
    zone = ZoneInfo(request.app.state.settings.timezone)

    def when(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y/%m/%d %H:%M") if value else "-"

    response = render(request, "seal/page.html", seal=facts, public_id=public_id, when=when, now=utcnow())
    response.headers.update(PAGE_CACHE)
    return response


@router.get("/seal/{public_id}/seal.svg")
async def seal_svg(request: Request, public_id: str, size: SizeParam = site_seal.DEFAULT_SIZE,
                   download: bool = False) -> Response:
    facts = _facts(request, public_id)
    return Response(site_seal.svg(facts.organization, size, facts.valid), media_type="image/svg+xml",
                    headers=_image_headers(facts, size, "svg", download))


@lru_cache(maxsize=256)
def _png(organization: str, domain_name: str, size: str, valid: bool) -> bytes:
    return seal_image.png(organization, domain_name, size, valid)


@router.get("/seal/{public_id}/seal.png")
async def seal_png(request: Request, public_id: str, size: SizeParam = site_seal.DEFAULT_SIZE,
                   download: bool = False) -> Response:
    facts = _facts(request, public_id)
    body = await run_in_threadpool(_png, facts.organization, facts.first_name, size, facts.valid)
    return Response(body, media_type="image/png", headers=_image_headers(facts, size, "png", download))


@router.get("/api/v1/seals/{public_id}")
async def seal_json(request: Request, public_id: str) -> Response:
    facts = _facts(request, public_id)
    body: dict[str, Any] = {
        "status": facts.status, "valid": facts.valid, "organization": facts.organization, "names": facts.names,
        "not_before": facts.not_before.isoformat() if facts.not_before else None,
        "not_after": facts.not_after.isoformat() if facts.not_after else None,
        "revoked_at": facts.revoked_at.isoformat() if facts.revoked_at else None,
        "checked_at": utcnow().isoformat()}
    return JSONResponse(body, headers=PAGE_CACHE)
