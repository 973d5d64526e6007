"""What a route handler may ask for: who is calling, and the process's shared parts.

``Customer`` (a logged-in customer whose password is not waiting to be changed),
``AnyCustomer`` (any live customer session: the password change itself), ``Staff``,
``Supervisor``, ``Tenant`` (a website's API key); ``Engine``, ``Config`` and ``Workflows``
(``processes.client.Processes``, the one way to reach the workflows). The end user of the
login certificate service has no login: the link's token names the enrollment
(``api.end_user_steps.resolve``), and the certificate holder's own app has ``Holder``.
"""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine as SqlEngine

from api.customer_auth import CustomerPrincipal, require_customer, require_customer_session
from api.staff_auth import StaffPrincipal, require_staff, require_supervisor
from api.tenant_auth import TenantPrincipal, require_tenant
from domain.settings import Settings
from processes.client import Processes


def _engine(request: Request) -> SqlEngine:
    return request.app.state.engine


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _processes(request: Request) -> Processes:
    return request.app.state.processes


Customer = Annotated[CustomerPrincipal, Depends(require_customer)]
AnyCustomer = Annotated[CustomerPrincipal, Depends(require_customer_session)]
Staff = Annotated[StaffPrincipal, Depends(require_staff)]
Supervisor = Annotated[StaffPrincipal, Depends(require_supervisor)]
Tenant = Annotated[TenantPrincipal, Depends(require_tenant)]
Engine = Annotated[SqlEngine, Depends(_engine)]
Config = Annotated[Settings, Depends(_settings)]
Workflows = Annotated[Processes, Depends(_processes)]
