"""What a customer may do with an application record (S-4, S-6, S-7, S-8): one rule for the
API, the pages and the tests alike, so a page never offers what the API would refuse.

``refusal(action, facts, now, reissue_window)`` gives the code of the first refusal, in the
manual's order, or None when the action is allowed; ``allowed(...)`` asks it for each action.
The codes are the API's error codes (``err_<code>`` in the message catalogue).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.catalog import CATALOG
from domain.contract_life import ACTIVE, ENDING, FIXED, needs_replacement

ACTIONS = ("download", "cancel", "reissue", "revoke", "replace", "renew", "contact_change", "switch")
# Records that carry a certificate of their own; revocation and contact change records point at
# another record's certificate.
CERTIFICATE_TYPES = ("new", "renewal", "reissue", "replacement", "switch")
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
    # The contract this record belongs to (issue 16); "" when none.
    contract_state: str = ""
    contract_type: str = ""
    contract_current: bool = False  # this record's certificate is the contract's current one
    certificate_not_after: datetime | None = None  # the contract's current certificate
    term_end: datetime | None = None
    replacing: bool = False  # a replacement (or a switch) of the contract's certificate is in progress
    renewing: bool = False  # a 更新申請 of the contract is in progress or done
    contact_changing: bool = False  # a 担当者変更申請 of the contract waits for staff


def _issued(f: ApplicationFacts) -> bool:
    return f.type in CERTIFICATE_TYPES and f.status == "issued" and f.has_certificate


def refusal(action: str, f: ApplicationFacts, now: datetime, reissue_window: timedelta) -> str | None:
    if action == "download":  # a revoked certificate is shown as 失効, never handed out again
        if not _issued(f):
            return "not_issued"
        return "already_revoked" if f.certificate_revoked else None
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
    if action in ("replace", "renew", "contact_change", "switch"):
        return _contract_refusal(action, f)
    raise ValueError(f"unknown action {action!r}")


def _contract_refusal(action: str, f: ApplicationFacts) -> str | None:
    """The contract's actions are asked of its current record (「お申込情報詳細」 of that record)."""
    if f.type == "contact_change" and action == "renew":
        return "not_renewable"  # 「お申込種別の“担当者変更”からは更新できません」
    if not f.contract_state:
        return "no_contract"
    if f.contract_state not in (ACTIVE, ENDING) or (action == "renew" and f.contract_state != ACTIVE):
        return "contract_not_active"
    if not f.contract_current:
        return "not_current_certificate"
    if action == "replace":
        if f.replacing:
            return "replacement_in_progress"
        if f.certificate_not_after is None or f.term_end is None \
                or not needs_replacement(f.certificate_not_after, f.term_end):
            return "replacement_not_needed"
        return None
    if action == "renew":
        if f.contract_type != FIXED:
            return "contract_renews_itself"
        return "renewal_in_progress" if f.renewing else None
    if action == "switch":  # 別サービスへ切り替えて申請
        if f.type == "contact_change":
            return "not_switchable"
        return "replacement_in_progress" if f.replacing else None
    return "contact_change_in_progress" if f.contact_changing else None


def allowed(f: ApplicationFacts, now: datetime, reissue_window: timedelta) -> dict[str, bool]:
    return {action: refusal(action, f, now, reissue_window) is None for action in ACTIONS}
