"""A login user's devices (L-4): the list, the contract's limit, and the rows' changes.

The device table is the list of a user's certificates: the first registration's certificate
is the first device, each added device gets its own through its own registration.
``LoginUser.certificate_serial`` keeps meaning the primary one (the first live device's): the
tenant API's reissue and the portal's handover read it.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain import devices as d
from domain import enrollment as e
from domain import login_methods
from domain.pki.hierarchy import CLIENT_CA
from store import audit, certificates
from store.db import session_scope
from store.models import Device, Enrollment, LoginUser, Tenant, utcnow


@dataclass(frozen=True)
class Contract:
    max_devices: int
    login_methods: tuple[str, ...]


@dataclass(frozen=True)
class DeviceView:
    id: int
    email: str
    device_type: str
    state: str  # domain.devices: active | pending | unfinished | removed
    serial: str | None
    certificate_state: str | None  # issued | revoked
    not_before: datetime | None
    not_after: datetime | None
    last_login_at: datetime | None
    created_at: datetime
    removed_at: datetime | None


class DeviceLimitReached(Exception):
    def __init__(self, max_devices: int) -> None:
        self.max_devices = max_devices


def contract_of(s: Session, tenant_id: int) -> Contract:
    tenant = s.get(Tenant, tenant_id)
    if tenant is None:
        raise LookupError(f"no tenant {tenant_id}")
    return Contract(tenant.max_devices, login_methods.parse_allowed(tenant.login_methods))


def set_contract(s: Session, tenant_id: int, actor: str, max_devices: int | None = None,
                 methods: tuple[str, ...] | None = None) -> Contract:
    """Changes what is given (already checked by the caller), audited; the contract as it is now."""
    tenant = s.get(Tenant, tenant_id)
    if tenant is None:
        raise LookupError(f"no tenant {tenant_id}")
    before = Contract(tenant.max_devices, login_methods.parse_allowed(tenant.login_methods))
    if max_devices is not None:
        tenant.max_devices = max_devices
    if methods is not None:
        tenant.login_methods = ",".join(methods)
    s.add(tenant)
    after = Contract(tenant.max_devices, login_methods.parse_allowed(tenant.login_methods))
    if after != before:
        audit.record(s, actor, "tenant.contract_changed", f"tenant:{tenant_id}", max_devices=after.max_devices,
                     login_methods=list(after.login_methods), previous_max_devices=before.max_devices,
                     previous_login_methods=list(before.login_methods))
    return after


def set_contract_of(engine: Engine, tenant_name: str, actor: str, max_devices: int | None = None,
                    methods: tuple[str, ...] | None = None) -> Contract:
    """``certdesk tenant contract``: by the tenant's name; ``LookupError`` for an unknown one."""
    with session_scope(engine) as s:
        tenant = s.exec(select(Tenant).where(Tenant.name == tenant_name)).first()
        if tenant is None:
            raise LookupError(f"no tenant named {tenant_name!r}")
        return set_contract(s, int(tenant.id or 0), actor, max_devices, methods)


def _rows(s: Session, login_user_id: int, include_removed: bool = False) -> list[Device]:
    query = select(Device).where(Device.login_user_id == login_user_id)
    if not include_removed:
        query = query.where(col(Device.removed_at).is_(None))
    return list(s.exec(query.order_by(col(Device.id))).all())


def _view(s: Session, row: Device) -> DeviceView:
    # A device's serial is set at its download (record_certificate): before that it is pending.
    cert = certificates.certificate_record(s, CLIENT_CA, row.certificate_serial)
    enrollment = s.get(Enrollment, row.enrollment_id) if row.enrollment_id else None
    ended = enrollment is None or e.ended(enrollment.kind, enrollment.state)
    state = d.state_of(cert is not None, ended, row.removed_at is not None)
    return DeviceView(int(row.id or 0), row.email, row.device_type, state, row.certificate_serial,
                      cert.state if cert else None, cert.not_before if cert else None,
                      cert.not_after if cert else None, row.last_login_at, row.created_at, row.removed_at)


def devices_of(s: Session, login_user_id: int, include_removed: bool = False) -> list[DeviceView]:
    return [_view(s, row) for row in _rows(s, login_user_id, include_removed)]


def device_of(s: Session, login_user_id: int, device_id: int) -> Device | None:
    """The user's own live device (another's, or a deleted one: None)."""
    row = s.get(Device, device_id)
    if row is None or row.login_user_id != login_user_id or row.removed_at is not None:
        return None
    return row


def counted(s: Session, login_user_id: int) -> int:
    return sum(1 for v in devices_of(s, login_user_id) if d.counts_toward_limit(v.state))


def add_device(s: Session, user: LoginUser, form: d.DeviceForm, enrollment: Enrollment, actor: str) -> Device:
    """The device and its registration's enrollment, in one transaction; ``DeviceLimitReached``
    (nothing stored) beyond the contract. The user's row is locked first so two additions at
    once cannot both pass the count (PostgreSQL; SQLite serialises writers anyway)."""
    s.exec(select(LoginUser).where(LoginUser.id == user.id).with_for_update()).one()
    contract = contract_of(s, user.tenant_id)
    if not d.may_add(counted(s, int(user.id or 0)), contract.max_devices):
        raise DeviceLimitReached(contract.max_devices)
    s.add(enrollment)
    s.flush()
    row = Device(login_user_id=int(user.id or 0), email=form.email, device_type=form.device_type,
                 enrollment_id=enrollment.id)
    s.add(row)
    s.flush()
    audit.record(s, actor, "device.added", f"login_user:{user.id}", device=row.id, device_type=form.device_type,
                 enrollment=enrollment.public_id)
    return row


def forget_unstarted(s: Session, device_id: int) -> None:
    """The rollback of a device whose registration Temporal could not take."""
    row = s.get(Device, device_id)
    if row is not None:
        audit.record(s, "system", "device.not_started", f"login_user:{row.login_user_id}", device=row.id)
        s.delete(row)
        s.flush()  # before its enrollment goes (the foreign key)


def change_device(s: Session, row: Device, form: d.DeviceForm, actor: str) -> bool:
    """変更: email and type; False when nothing changed. The certificate stays as it is."""
    if (row.email, row.device_type) == (form.email, form.device_type):
        return False
    changed = [k for k, old, new in (("email", row.email, form.email),
                                     ("device_type", row.device_type, form.device_type)) if old != new]
    row.email, row.device_type, row.updated_at = form.email, form.device_type, utcnow()
    s.add(row)
    audit.record(s, actor, "device.changed", f"login_user:{row.login_user_id}", device=row.id, fields=changed,
                 device_type=form.device_type)
    return True


def mark_removed(s: Session, device_id: int, actor: str) -> str | None:
    """削除, once its certificate is revoked: the row is kept (removed), the user's primary serial
    moves to the oldest device left. Returns the device's serial."""
    row = s.get(Device, device_id)
    if row is None or row.removed_at is not None:
        return None
    row.removed_at = row.updated_at = utcnow()
    s.add(row)
    user = s.get(LoginUser, row.login_user_id)
    if user is not None and row.certificate_serial and user.certificate_serial == row.certificate_serial:
        left = [v for v in devices_of(s, int(user.id or 0)) if v.state == d.ACTIVE and v.id != row.id]
        user.certificate_serial, user.updated_at = (left[0].serial if left else None), utcnow()
        s.add(user)
    audit.record(s, actor, "device.removed", f"login_user:{row.login_user_id}", device=row.id,
                 serial=row.certificate_serial)
    return row.certificate_serial


def added_device_of(s: Session, enrollment_id: int) -> Device | None:
    """The device an enrollment registers, when the user added it (not the first registration).
    ``Device.enrollment_id`` is set only for those: the registration that added the device."""
    return s.exec(select(Device).where(Device.enrollment_id == enrollment_id)).first()


def device_enrollments() -> Any:
    """A subquery of the enrollments that register added devices (for the tenant's own lists)."""
    return select(Device.enrollment_id).where(col(Device.enrollment_id).is_not(None))


def record_certificate(s: Session, user: LoginUser, enrollment: Enrollment, serial: str) -> str | None:
    """A downloaded certificate takes its place in the device list. Returns the serial this
    download replaces among the user's certificates (None: it adds one; its own serial: its
    device was deleted meanwhile, so it is to be revoked too).

    - an added device's registration: that device gets it; the others keep theirs;
    - a reissue: the device holding the reissued certificate gets the new one;
    - a (re-)registration by the tenant: the primary device gets it (created the first time).
    """
    added = added_device_of(s, int(enrollment.id or 0))
    if added is not None:
        added.certificate_serial, added.updated_at = serial, utcnow()
        s.add(added)
        # Deleted while its certificate was being handed over: that certificate goes as well.
        return serial if added.removed_at is not None else None
    previous = enrollment.previous_serial if enrollment.kind == "reissue" else user.certificate_serial
    holder = s.exec(select(Device).where(Device.login_user_id == user.id, col(Device.removed_at).is_(None),
                                         Device.certificate_serial == previous)).first() if previous else None
    if holder is None:
        holder = Device(login_user_id=int(user.id or 0), email=user.email, device_type=d.PC)
    holder.certificate_serial, holder.updated_at = serial, utcnow()  # enrollment_id: only an added device's
    s.add(holder)
    return previous


def note_login(s: Session, login_user_id: int, serial: str) -> None:
    """A login with the device's certificate (the account pages'; the list shows the last)."""
    row = s.exec(select(Device).where(Device.login_user_id == login_user_id, Device.certificate_serial == serial,
                                      col(Device.removed_at).is_(None))).first()
    if row is not None:
        row.last_login_at = utcnow()
        s.add(row)


def device_for_serial(s: Session, serial: str) -> Device | None:
    """The device (live or removed) holding this certificate, if any."""
    return s.exec(select(Device).where(Device.certificate_serial == serial)
                  .order_by(col(Device.id).desc())).first()
