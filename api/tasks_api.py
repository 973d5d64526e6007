"""Being removed: the staff API now lives in ``api.tasks``, ``api.audit``, ``api.staff_sessions``
and ``api.password_resets``. Kept only while ``api/app.py`` still includes this router (which
now just includes theirs) and ``api/portal.py`` still imports ``error``; delete it then."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api import audit, staff_sessions, tasks

router = APIRouter()
for _module in (staff_sessions, tasks, audit):
    router.include_router(_module.router)


def error(status: int, code: str, message: str) -> JSONResponse:
    """The old error answer (api/portal.py's last use); ``api.errors.error`` replaces it."""
    return JSONResponse({"error": code, "message": message}, status_code=status)
