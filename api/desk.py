"""Being removed: the desk's pages now live with their resources (``api.tasks``, ``api.audit``,
``api.staff_sessions``, ``api.password_resets``). Kept, empty, only while ``api/app.py`` still
includes this router; delete it then."""

from fastapi import APIRouter

router = APIRouter()
