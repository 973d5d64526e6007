"""/dev/dns: the development DNS zone and website files of ``certdesk up``, for a person to edit.

Mounted only when ``certdesk up`` hands the app its development network (:class:`DevNetwork`)
and never in production (api/app.py). The zone and the site are the entry point's objects
(certdesk/dev_dns.py, certdesk/dev_www.py), seen here only through the protocols below: this
layer imports nothing from above it. Input rules and their messages: domain/dev_zone.py.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from api.errors import ApiError, invalid
from api.i18n import messages
from api.rendering import render
from domain import dev_zone
from domain.dev_zone import InputError, Record, WebFile

Text = Annotated[str, Form(max_length=dev_zone.MAX_TXT + 100)]
DONE = {"record_added": "dev_done_record_added", "record_deleted": "dev_done_record_deleted",
        "file_added": "dev_done_file_added", "file_deleted": "dev_done_file_deleted"}


class DevZone(Protocol):
    address: str | None

    def rows(self) -> list[tuple[str, str, str]]: ...
    def add(self, record: Record) -> bool: ...
    def remove(self, name: str, rtype: str, value: str) -> bool: ...


class DevSite(Protocol):
    port: int

    def files(self) -> list[WebFile]: ...
    def put(self, web_file: WebFile) -> None: ...
    def delete(self, domain: str, file: str) -> bool: ...


@dataclass(frozen=True)
class DevNetwork:
    """What ``certdesk up`` serves on loopback for domain validation without the Internet."""

    zone: DevZone
    site: DevSite


class RecordIn(BaseModel):
    name: str = Field(max_length=300)
    type: str = Field(max_length=10)
    value: str = Field(max_length=dev_zone.MAX_TXT + 100)


class FileIn(BaseModel):
    domain: str = Field(max_length=300)
    file: str = Field(max_length=200)
    content: str = Field(max_length=dev_zone.MAX_FILE + 100)


router = APIRouter(prefix="/dev/dns")


def _network(request: Request) -> DevNetwork:
    return request.app.state.dev_network


def _page(request: Request, status: int = 200, record_errors: dict[str, str] | None = None,
          file_errors: dict[str, str] | None = None, values: dict[str, str] | None = None) -> HTMLResponse:
    network, settings = _network(request), request.app.state.settings
    done = DONE.get(request.query_params.get("done", ""))
    page = render(request, "dev_dns.html", records=network.zone.rows(), files=network.site.files(),
                  types=dev_zone.TYPES, zone_address=network.zone.address, resolver=settings.dns_resolver,
                  site_port=network.site.port, done=done, record_errors=record_errors or {},
                  file_errors=file_errors or {}, values=values or {})
    page.status_code = status
    return page


def _change(request: Request, change: Callable[[], object], done: str, section: str,
            values: dict[str, str]) -> Response:
    """A form's change made, then back to the page; bad input: the page again, the message next to
    the field of ``section`` ("record" or "file"), what the person typed kept, nothing changed."""
    # A form post from another site (a page the developer happens to visit) never gets here: api/csrf.py.
    try:
        change()
    except InputError as exc:
        return _page(request, 422, **{f"{section}_errors": {exc.field: messages(request)(exc.key)}}, values=values)
    return RedirectResponse(f"/dev/dns?done={done}", status_code=303)


def _fields(request: Request, exc: InputError) -> list[dict[str, str]]:
    return [{"field": exc.field, "message": messages(request)(exc.key)}]


# --- the page ---

@router.get("", response_class=HTMLResponse)
async def dns_page(request: Request) -> HTMLResponse:
    return _page(request)


@router.post("/add", response_class=HTMLResponse)
async def add_record_form(request: Request, name: Text = "", type: Text = "TXT", value: Text = "") -> Response:  # noqa: A002
    return _change(request, lambda: _network(request).zone.add(dev_zone.record(name, type, value)),
                   "record_added", "record", {"name": name, "type": type, "value": value})


@router.post("/delete")
async def delete_record_form(request: Request, name: Text, type: Text, value: Text) -> Response:  # noqa: A002
    return _change(request, lambda: _network(request).zone.remove(name, type, value), "record_deleted", "record", {})


@router.post("/files/add", response_class=HTMLResponse)
async def add_file_form(request: Request, domain: Text = "", file: Text = "",
                        content: Annotated[str, Form(max_length=dev_zone.MAX_FILE + 100)] = "") -> Response:
    return _change(request, lambda: _network(request).site.put(dev_zone.web_file(domain, file, content)),
                   "file_added", "file", {"domain": domain, "file": file, "content": content})


@router.post("/files/delete")
async def delete_file_form(request: Request, domain: Text, file: Text) -> Response:
    return _change(request, lambda: _network(request).site.delete(domain, file), "file_deleted", "file", {})


# --- the JSON twin ---

def _record_json(name: str, rtype: str, value: str) -> dict[str, str]:
    return {"name": name, "type": rtype, "value": value}


@router.get("/records")
async def list_records(request: Request) -> list[dict[str, str]]:
    return [_record_json(*row) for row in _network(request).zone.rows()]


@router.post("/records")
async def add_record(request: Request, body: RecordIn) -> JSONResponse:
    try:
        record = dev_zone.record(body.name, body.type, body.value)
        added = _network(request).zone.add(record)
    except InputError as exc:
        return invalid(request, _fields(request, exc))
    return JSONResponse({**_record_json(record.name, record.type, record.value), "added": added},
                        status_code=201 if added else 200)


@router.delete("/records", status_code=204)
async def delete_record(request: Request, name: str, type: str, value: str) -> Response:  # noqa: A002
    if not _network(request).zone.remove(name, type, value):
        raise ApiError(404, "not_found")
    return Response(status_code=204)


@router.get("/files")
async def list_files(request: Request) -> list[dict[str, str]]:
    return [{"domain": f.domain, "file": f.file, "content": f.content} for f in _network(request).site.files()]


@router.post("/files", status_code=201)
async def add_file(request: Request, body: FileIn) -> JSONResponse:
    try:
        web_file = dev_zone.web_file(body.domain, body.file, body.content)
        _network(request).site.put(web_file)
    except InputError as exc:
        return invalid(request, _fields(request, exc))
    return JSONResponse({"domain": web_file.domain, "file": web_file.file, "content": web_file.content},
                        status_code=201)


@router.delete("/files", status_code=204)
async def delete_file(request: Request, domain: str, file: str) -> Response:
    if not _network(request).site.delete(domain, file):
        raise ApiError(404, "not_found")
    return Response(status_code=204)
