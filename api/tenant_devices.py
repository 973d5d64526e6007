"""The tenant API for devices (L-4) and the contract that limits them (and the login methods, L-5).

``GET/PUT /api/v1/contract``: the tenant's own contract, as ``certdesk tenant contract`` sets it.
``GET /api/v1/users/{user_id}/devices`` lists a user's devices (deleted ones too, marked so);
``DELETE …/devices/{id}`` deletes one as the user's 削除 does: its certificate revoked at once.
A tenant sees only its own users: anything else is 404.
"""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine as SqlEngine
from sqlmodel import select

from api.deps import Engine, Tenant
from api.errors import error, invalid
from api.i18n import messages
from api.login_devices import DeviceId, device_json, remove_device
from domain import devices as d
from store import devices as store
from store.db import session_scope
from store.models import LoginUser

router = APIRouter(prefix="/api/v1")


class ContractChange(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not a silent no-op
    max_devices: int | None = Field(None, description="devices a user may hold (1-100)")
    login_methods: list[str] | None = Field(None, description="certificate, otp, certificate+otp")


def contract_json(contract: store.Contract) -> dict[str, object]:
    return {"max_devices": contract.max_devices, "login_methods": list(contract.login_methods)}


@router.get("/contract")
async def get_contract(tenant: Tenant, engine: Engine) -> JSONResponse:
    with session_scope(engine) as s:
        return JSONResponse(contract_json(store.contract_of(s, tenant.id)))


@router.put("/contract")
async def put_contract(request: Request, body: ContractChange, tenant: Tenant, engine: Engine) -> Response:
    problems = d.contract_problems(body.max_devices, body.login_methods)
    if problems:
        t = messages(request)
        return invalid(request, [{"field": f, "message": t(key)} for f, key in problems.items()])
    methods = tuple(dict.fromkeys(body.login_methods)) if body.login_methods is not None else None
    with session_scope(engine) as s:
        return JSONResponse(contract_json(store.set_contract(s, tenant.id, tenant.actor, body.max_devices, methods)))


def _user_id(engine: SqlEngine, tenant_id: int, user_id: str) -> int | None:
    with session_scope(engine) as s:
        user = s.exec(select(LoginUser).where(LoginUser.tenant_id == tenant_id, LoginUser.user_id == user_id)).first()
        return int(user.id or 0) if user is not None else None


@router.get("/users/{user_id}/devices")
async def user_devices(request: Request, user_id: str, tenant: Tenant, engine: Engine) -> JSONResponse:
    login_user_id = _user_id(engine, tenant.id, user_id)
    if login_user_id is None:
        return error(request, 404, "not_found", key="login_user_not_found")
    with session_scope(engine) as s:
        views = store.devices_of(s, login_user_id, include_removed=True)
        contract = store.contract_of(s, tenant.id)
    return JSONResponse({"user_id": user_id, "max_devices": contract.max_devices,
                         "devices": [device_json(v) for v in views]})


@router.delete("/users/{user_id}/devices/{device_id}")
async def delete_device(request: Request, user_id: str, device_id: DeviceId, tenant: Tenant,
                        engine: Engine) -> Response:
    login_user_id = _user_id(engine, tenant.id, user_id)
    if login_user_id is None:
        return error(request, 404, "not_found", key="login_user_not_found")
    if await remove_device(request, login_user_id, device_id, tenant.actor) != "removed":
        return error(request, 404, "not_found", key="device_not_found")
    with session_scope(engine) as s:
        view = next(v for v in store.devices_of(s, login_user_id, include_removed=True) if v.id == device_id)
    return JSONResponse(device_json(view))
