"""No NUL character reaches a query: PostgreSQL's text cannot hold one (the driver raises, a 500),
and no field of certdesk has a use for it. One app-wide dependency looks at the path parameters,
the query, a form and a JSON body, and answers 422 naming every field that carries one.
"""

import contextlib
import json
from typing import Any

from fastapi import Depends, Request
from fastapi import params as fastapi_params
from fastapi.exceptions import RequestValidationError

NUL = "\x00"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _in_json(value: Any, loc: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [loc] if NUL in value else []
    if isinstance(value, dict):
        hits = [(*loc, k) for k in value if NUL in str(k)]
        return hits + [hit for k, v in value.items() for hit in _in_json(v, (*loc, k))]
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in _in_json(v, (*loc, i))]
    return []


async def _body_locations(request: Request) -> list[tuple[Any, ...]]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in FORM_TYPES:
        with contextlib.suppress(RuntimeError):  # kept, so a route reading the raw body still can
            await request.body()
        try:
            form = await request.form()
        except Exception:  # noqa: BLE001 (not a form after all: the route refuses it)
            return []
        return [("body", k) for k, v in form.multi_items() if NUL in k or (isinstance(v, str) and NUL in v)]
    try:
        body = await request.body()
    except RuntimeError:  # read already, and not kept: nothing of it reaches a query through us
        return []
    if b"\\u0000" not in body and b"\x00" not in body:
        return []
    try:
        return _in_json(json.loads(body), ("body",))
    except ValueError:
        return []  # not JSON: FastAPI says so


async def refuse_nul(request: Request) -> None:
    locations = [("path", k) for k, v in request.path_params.items() if NUL in str(v)]
    locations += [("query", k) for k, v in request.query_params.multi_items() if NUL in k or NUL in v]
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        locations += await _body_locations(request)
    if locations:
        raise RequestValidationError([{"type": "control_characters", "loc": loc, "msg": "a NUL character",
                                       "input": None} for loc in locations])


def guard() -> fastapi_params.Depends:
    return Depends(refuse_nul)
