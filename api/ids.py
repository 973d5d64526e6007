"""Ids in paths (issue 14): what a route declares instead of ``application_id: int``.

Row ids are INTEGER columns: 64 bits in SQLite, 32 in PostgreSQL. A bigger number (or a negative
one) names no row, and the drivers cannot even bind it (SQLite's ``OverflowError``, PostgreSQL's
"integer out of range": a 500). So an id outside 0..2**31-1, the smaller of the two, answers 404
here, before any handler or query runs; one that is not a number stays 422, as FastAPI answers it.
``tests/test_route_ids.py`` walks both apps' route tables
and tries the overflowing id on every integer path parameter.
"""

import inspect
from typing import Annotated, Any

from fastapi import Depends, Path

from api.errors import ApiError

MAX_ID = 2**31 - 1  # PostgreSQL's INTEGER


def path_id(name: str) -> Any:
    """The type of the path parameter ``name``: an int, or 404 when no row can have it."""

    async def bounded(**found: int) -> int:
        value = found[name]
        if not 0 <= value <= MAX_ID:
            raise ApiError(404, "not_found")
        return value

    # FastAPI reads the parameter's name and type from the signature: the path parameter ``name``.
    parameter = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[int, Path()])
    bounded.__signature__ = inspect.Signature([parameter], return_annotation=int)  # type: ignore[attr-defined]
    bounded.__name__ = f"{name}_within_range"
    return Annotated[int, Depends(bounded)]


ApplicationId = path_id("application_id")
ValidationId = path_id("validation_id")
TaskId = path_id("task_id")
