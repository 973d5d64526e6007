"""Devices on the account pages (L-4, manual 付録 1 and 3): 追加, 変更, 削除.

追加 takes the device's email (twice) and type, shows them to confirm, and 登録 stores the device
and starts its own L-1 registration: the one-time password goes to that email, the person
answers the user's secret question, and the device gets its own certificate and PKCS#12.
The tenant's contract caps the devices that count (holding a certificate, or registering).
削除 revokes the device's certificate at once (the login certificates' revocation process)
and then marks the device removed; the device in use for this login cannot delete itself.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.i18n import messages
from api.ids import path_id
from api.login_account import Current, Holder, _check_csrf, _page
from domain import devices as d
from domain import enrollment as e
from processes import devices as process
from processes import login_certificates as login_process
from processes.client import Processes
from processes.connection import TemporalHandle
from store import devices as store
from store.db import session_scope
from store.models import Device, Enrollment, LoginUser, utcnow

router = APIRouter()
DeviceId = path_id("device_id")  # 404 for a number no row can have (api/ids.py)


def _processes(request: Request) -> Processes:
    """The account app reaches Temporal only for devices: connected at the first need."""
    state = request.app.state
    if getattr(state, "processes", None) is None:
        state.processes = Processes(TemporalHandle(state.settings), state.settings)
    return state.processes  # type: ignore[no-any-return]


def _list(request: Request, holder: Holder) -> tuple[list[store.DeviceView], store.Contract]:
    with session_scope(request.app.state.engine) as s:
        user = s.get(LoginUser, holder.user_id)
        tenant_id = user.tenant_id if user else 0
        return store.devices_of(s, holder.user_id), store.contract_of(s, tenant_id)


def _devices_page(request: Request, holder: Holder, status: int = 200, **ctx: object) -> Response:
    devices, contract = _list(request, holder)
    return _page(request, holder, "devices.html", status=status, devices=devices, contract=contract,
                 types=d.DEVICE_TYPES, **ctx)


def _form_errors(request: Request, problems: dict[str, str]) -> dict[str, str]:
    t = messages(request)
    return {field: t(key) for field, key in problems.items()}


def _limit_message(request: Request, max_devices: int) -> str:
    return messages(request)("device_err_limit").format(max=max_devices)


@router.get("/account/devices", response_class=HTMLResponse)
async def devices_page(request: Request, holder: Current) -> Response:
    return _devices_page(request, holder)


@router.get("/account/devices/add", response_class=HTMLResponse)
async def add_form(request: Request, holder: Current) -> Response:
    devices, contract = _list(request, holder)
    counted = sum(1 for v in devices if d.counts_toward_limit(v.state))
    if not d.may_add(counted, contract.max_devices):
        return _devices_page(request, holder, status=409, error=_limit_message(request, contract.max_devices))
    return _page(request, holder, "devices_form.html", mode="add", types=d.DEVICE_TYPES, values={}, errors={})


@router.post("/account/devices/add/confirm", response_class=HTMLResponse)
async def add_confirm(request: Request, holder: Current, email: Annotated[str, Form()] = "",
                      email_confirm: Annotated[str, Form()] = "", device_type: Annotated[str, Form()] = "",
                      csrf_token: Annotated[str, Form()] = "") -> Response:
    _check_csrf(holder, csrf_token)
    form, problems = d.check_form(email, email_confirm, device_type)
    if form is None:
        return _page(request, holder, "devices_form.html", status=422, mode="add", types=d.DEVICE_TYPES,
                     values={"email": email, "email_confirm": email_confirm, "device_type": device_type},
                     errors=_form_errors(request, problems))
    return _page(request, holder, "devices_confirm.html", form=form)


@router.post("/account/devices/add", response_class=HTMLResponse)
async def add(request: Request, holder: Current, email: Annotated[str, Form()] = "",
              device_type: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "") -> Response:
    _check_csrf(holder, csrf_token)
    form, problems = d.check_form(email, None, device_type)
    if form is None:
        return _page(request, holder, "devices_form.html", status=422, mode="add", types=d.DEVICE_TYPES,
                     values={"email": email, "device_type": device_type}, errors=_form_errors(request, problems))
    added = await add_device(request, holder.user_id, form, f"end_user:{holder.user_id}")
    if isinstance(added, int):
        return _devices_page(request, holder, status=409, error=_limit_message(request, added))
    return _devices_page(request, holder, added_email=form.email)


async def add_device(request: Request, login_user_id: int, form: d.DeviceForm, actor: str) -> Device | int:
    """The device and its registration; the contract's limit (an int) when it is full. ``Unavailable``
    when Temporal cannot take it, after the rows made for it are gone again."""
    with session_scope(request.app.state.engine) as s:
        user = s.get(LoginUser, login_user_id)
        if user is None:
            raise LookupError("the holder's user is gone")
        public_id = e.new_public_id()
        # The one-time password is made and mailed by the registration itself (activities/devices.py).
        enrollment = Enrollment(public_id=public_id, kind="registration", tenant_id=user.tenant_id,
                                user_id=user.user_id, email=form.email, certificate_name=user.certificate_name,
                                language=user.language, login_user_id=user.id,
                                expires_at=utcnow().replace(microsecond=0) + request.app.state.settings.otp_ttl,
                                workflow_id=process.device_workflow_id(public_id))
        try:
            device = store.add_device(s, user, form, enrollment, actor)
        except store.DeviceLimitReached as full:
            return full.max_devices
        device_id, enrollment_id = int(device.id or 0), int(enrollment.id or 0)

    def rollback() -> None:
        with session_scope(request.app.state.engine) as s:
            store.forget_unstarted(s, device_id)
            row = s.get(Enrollment, enrollment_id)
            if row is not None:
                s.delete(row)

    await process.start_device_registration(_processes(request), enrollment_id, public_id, rollback)
    with session_scope(request.app.state.engine) as s:
        row = s.get(Device, device_id)
        if row is None:
            raise LookupError("the device just added is gone")
        s.expunge(row)
        return row


def _own(request: Request, holder: Holder, device_id: int) -> Device | None:
    with session_scope(request.app.state.engine) as s:
        row = store.device_of(s, holder.user_id, device_id)
        if row is not None:
            s.expunge(row)
        return row


def _not_found(request: Request, holder: Holder) -> Response:
    return _devices_page(request, holder, status=404, error=messages(request)("err_device_not_found"))


@router.get("/account/devices/{device_id}/edit", response_class=HTMLResponse)
async def edit_form(request: Request, device_id: DeviceId, holder: Current) -> Response:
    row = _own(request, holder, device_id)
    if row is None:
        return _not_found(request, holder)
    return _page(request, holder, "devices_form.html", mode="edit", device_id=device_id, types=d.DEVICE_TYPES,
                 values={"email": row.email, "device_type": row.device_type}, errors={})


@router.post("/account/devices/{device_id}/edit", response_class=HTMLResponse)
async def edit(request: Request, device_id: DeviceId, holder: Current, email: Annotated[str, Form()] = "",
               device_type: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "") -> Response:
    _check_csrf(holder, csrf_token)
    if _own(request, holder, device_id) is None:  # another's device: 404 before anything is looked at
        return _not_found(request, holder)
    form, problems = d.check_form(email, None, device_type)
    if form is None:
        return _page(request, holder, "devices_form.html", status=422, mode="edit", device_id=device_id,
                     types=d.DEVICE_TYPES, values={"email": email, "device_type": device_type},
                     errors=_form_errors(request, problems))
    with session_scope(request.app.state.engine) as s:
        row = store.device_of(s, holder.user_id, device_id)
        if row is None:
            return _not_found(request, holder)
        store.change_device(s, row, form, f"end_user:{holder.user_id}")
    return _devices_page(request, holder, notice=messages(request)("device_changed"))


@router.get("/account/devices/{device_id}/delete", response_class=HTMLResponse)
async def delete_confirm(request: Request, device_id: DeviceId, holder: Current) -> Response:
    row = _own(request, holder, device_id)
    if row is None:
        return _not_found(request, holder)
    if row.certificate_serial and row.certificate_serial == holder.serial:
        return _devices_page(request, holder, status=409, error=messages(request)("err_device_in_use"))
    with session_scope(request.app.state.engine) as s:
        view = next(v for v in store.devices_of(s, holder.user_id) if v.id == device_id)
    return _page(request, holder, "devices_delete.html", device=view)


@router.post("/account/devices/{device_id}/delete", response_class=HTMLResponse)
async def delete(request: Request, device_id: DeviceId, holder: Current,
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    _check_csrf(holder, csrf_token)
    code = await remove_device(request, holder.user_id, device_id, f"end_user:{holder.user_id}", holder.serial)
    if code == "not_found":
        return _not_found(request, holder)
    if code == "in_use":
        return _devices_page(request, holder, status=409, error=messages(request)("err_device_in_use"))
    return _devices_page(request, holder, notice=messages(request)("device_deleted"))


async def remove_device(request: Request, login_user_id: int, device_id: int, actor: str,
                        in_use_serial: str = "") -> str:
    """削除: its certificate revoked at once, then the device marked removed (both audited); a
    registration still under way is ended instead. "removed", "not_found" or "in_use"."""
    with session_scope(request.app.state.engine) as s:
        row = store.device_of(s, login_user_id, device_id)
        if row is None:
            return "not_found"
        serial = row.certificate_serial
        enrollment = s.get(Enrollment, row.enrollment_id) if row.enrollment_id else None
        registering = (enrollment.workflow_id if enrollment is not None and not serial
                       and not e.ended(enrollment.kind, enrollment.state) else "")
    if serial and serial == in_use_serial:
        return "in_use"
    if serial:
        await process.revoke_device_certificate(_processes(request), serial, actor)
    elif registering:
        # Its steps are refused from now on; a certificate issued but not downloaded is revoked.
        await login_process.replace(_processes(request), registering)
    with session_scope(request.app.state.engine) as s:
        store.mark_removed(s, device_id, actor)
    return "removed"


def device_json(view: store.DeviceView) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {"id": view.id, "email": view.email, "device_type": view.device_type, "status": view.state,
            "certificate": None if view.serial is None else {
                "serial": view.serial, "status": view.certificate_state, "not_before": iso(view.not_before),
                "not_after": iso(view.not_after)},
            "last_login_at": iso(view.last_login_at), "created_at": iso(view.created_at),
            "removed_at": iso(view.removed_at)}


@router.get("/api/v1/me/devices")
async def me_devices(request: Request, holder: Current) -> JSONResponse:
    devices, contract = _list(request, holder)
    return JSONResponse({"max_devices": contract.max_devices, "devices": [device_json(v) for v in devices]})
