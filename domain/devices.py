"""Devices (端末, L-4, manual 付録 1 and 3): the types a user chooses from, the contract's limit,
and the checks of the 追加 / 変更 form. Pure: the store counts, this decides."""

from dataclasses import dataclass
from typing import Final

from domain import login_methods as lm
from domain.email_address import NotAnEmailAddress, normalise_email

PC: Final = "pc"
SMARTPHONE: Final = "smartphone"
TABLET: Final = "tablet"
DEVICE_TYPES: Final = (PC, SMARTPHONE, TABLET)  # 端末種別, in the order the form lists them
DEFAULT_MAX_DEVICES: Final = 3  # a tenant's contract until it says otherwise
MAX_DEVICES_CEILING: Final = 100  # what a contract may set at most

# A device's state as its list shows it.
ACTIVE, PENDING, UNFINISHED, REMOVED = "active", "pending", "unfinished", "removed"


def state_of(has_certificate: bool, enrollment_ended: bool, removed: bool) -> str:
    """``active``: holds a certificate; ``pending``: its registration is under way; ``unfinished``:
    its registration ended without a download (it may be deleted, and no longer counts)."""
    if removed:
        return REMOVED
    if has_certificate:
        return ACTIVE
    return UNFINISHED if enrollment_ended else PENDING


def counts_toward_limit(state: str) -> bool:
    return state in (ACTIVE, PENDING)


def may_add(counted: int, max_devices: int) -> bool:
    """Whether one more device fits the contract, given the devices that count now."""
    return counted < max_devices


def max_devices_problem(value: int) -> str | None:
    """A contract's device limit: at least one (the user's first certificate), at most the ceiling."""
    return None if 1 <= value <= MAX_DEVICES_CEILING else "device_err_max_devices"


def contract_problems(max_devices: int | None, methods: list[str] | None) -> dict[str, str]:
    """A contract change (None: unchanged): each refused field's message key. At least one login
    method, each one of ``domain.login_methods.METHODS``."""
    problems: dict[str, str] = {}
    if max_devices is not None and (problem := max_devices_problem(max_devices)):
        problems["max_devices"] = problem
    if methods is not None and (not methods or any(m not in lm.METHODS for m in methods)):
        problems["login_methods"] = "device_err_login_methods"
    return problems


@dataclass(frozen=True)
class DeviceForm:
    email: str
    device_type: str


def check_form(email: str, email_confirm: str | None, device_type: str) -> tuple[DeviceForm | None, dict[str, str]]:
    """The 追加 (with its メールアドレス確認) or 変更 form (``email_confirm`` None: no confirmation
    field): the normalised form, or each refused field's message key."""
    problems: dict[str, str] = {}
    address = ""
    try:
        address = normalise_email(email.strip())
    except NotAnEmailAddress:
        problems["email"] = "device_err_email"
    if email_confirm is not None and "email" not in problems and _normalised(email_confirm) != address:
        problems["email_confirm"] = "device_err_email_confirm"
    if device_type not in DEVICE_TYPES:
        problems["device_type"] = "device_err_device_type"
    return (None, problems) if problems else (DeviceForm(address, device_type), {})


def _normalised(value: str) -> str | None:
    try:
        return normalise_email(value)
    except NotAnEmailAddress:
        return None
