"""Tenants (relying websites) call the API with a bearer API key (``certdesk tenant create``)."""

from dataclasses import dataclass

from fastapi import Request
from sqlmodel import select

from api.errors import ApiError
from domain.credentials import api_key_matches, split_api_key
from store.db import session_scope
from store.models import Tenant


@dataclass(frozen=True)
class TenantPrincipal:
    id: int
    name: str

    @property
    def actor(self) -> str:
        return f"tenant:{self.id}"


def require_tenant(request: Request) -> TenantPrincipal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    parts = split_api_key(key.strip()) if scheme.lower() == "bearer" else None
    if parts is not None:
        with session_scope(request.app.state.engine) as s:
            tenant = s.exec(select(Tenant).where(Tenant.api_key_id == parts[0])).first()
            if tenant is not None and api_key_matches(tenant.api_key_digest, parts[1]):
                return TenantPrincipal(int(tenant.id or 0), tenant.name)
    raise ApiError(401, "unauthorized", key="tenant_key_required", headers={"WWW-Authenticate": "Bearer"})
