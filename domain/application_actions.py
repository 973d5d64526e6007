"""What a customer may do with an application record (S-4, S-6, S-7, S-8): one rule for the
API, the pages and the tests alike, so a page never offers what the API would refuse.

``refusal(action, facts, now, reissue_window)`` gives the code of the first refusal, in the
manual's order, or None when the action is allowed; ``allowed(...)`` asks it for each action.
The codes are the API's error codes (``err_<code>`` in the message catalogue).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.catalog import CATALOG

ACTIONS = ("download", "cancel", "reissue", "revoke")
# Records that carry a certificate of their own; revocation (and, later, contact change)
# records point at another record's certificate.
CERTIFICATE_TYPES = ("new", "renewal", "reissue")
CANCELLABLE_TYPES = ("new", "renewal")  # the reissue and revocation processes have no 申請取消
FINAL_STATUSES = ("issued", "rejected", "cancelled", "returned")


@dataclass(frozen=True)
class ApplicationFacts:
    """What the rules look at: the record, its certificate and the records that follow from it."""

    type: str  # new | renewal | reissue | revocation | contact_change
    status: str  # received | documents_pending | issued | rejected | cancelled | ...
    product: str
    issued_at: datetime | None = None
    has_certificate: bool = False  # a serial and a stored certificate
    certificate_revoked: bool = False
    reissued: bool = False  # a reissue record points at this one
    revocation_waiting: bool = False  # a revocation record of this one waits for our call


def _issued(f: ApplicationFacts) -> bool:
    return f.type in CERTIFICATE_TYPES and f.status == "issued" and f.has_certificate


def refusal(action: str, f: ApplicationFacts, now: datetime, reissue_window: timedelta) -> str | None:
    if action == "download":
        return None if _issued(f) else "not_issued"
    if action == "cancel":
        return None if f.type in CANCELLABLE_TYPES and f.status not in FINAL_STATUSES else "not_cancellable"
    if action == "revoke":
        if not _issued(f):
            return "not_issued"
        if f.certificate_revoked:
            return "already_revoked"
        return "revocation_pending" if f.revocation_waiting else None
    if action == "reissue":
        if f.type == "contact_change":
            return "not_reissuable"
        if not _issued(f) or f.issued_at is None:
            return "not_issued"
        if now - f.issued_at > reissue_window:
            return "reissue_window_closed"
        if f.certificate_revoked:
            return "already_revoked"
        if f.reissued:
            return "already_reissued"
        product = CATALOG.get(f.product)
        if product is not None and product.reissue_limit == 1 and f.type == "reissue":
            return "ev_reissued_once"
        return None
    raise ValueError(f"unknown action {action!r}")


def allowed(f: ApplicationFacts, now: datetime, reissue_window: timedelta) -> dict[str, bool]:
    return {action: refusal(action, f, now, reissue_window) is None for action in ACTIONS}
