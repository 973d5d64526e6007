"""What お申込情報詳細 says about a record beyond its own fields (manual 003, 詳細画面): the
サービス line, whether its certificate was revoked (when, why) or replaced (by which record), a
revocation waiting for our call, and the pull-down 「更新、失効、解約、再発行、担当者変更、申請取消」
offering exactly what ``domain.application_actions`` (and the contract's own offers, for 解約) allow.
Every name is the person's language: statuses, products and reasons, never their codes.
"""

from typing import Any

from fastapi import Request

from api.i18n import messages, request_language
from domain.catalog import CATALOG
from domain.revocation import REASONS
from store import applications as records
from store.models import Application, CertificateRecord

# The pull-down's entries, in the manual's order, each by its label.
MENU = {"renew": "detail_action_renew", "revoke": "detail_action_revoke", "terminate": "detail_action_terminate",
        "reissue": "detail_action_reissue", "contact_change": "detail_action_contact_change",
        "cancel": "detail_action_cancel"}
# The CA's reason (RFC 5280) when no revocation request of the customer's names it.
CRL_REASON_KEYS = {"superseded": "detail_crl_superseded", "keyCompromise": "app_reason_key_compromise",
                   "cessationOfOperation": "app_reason_cessation", "affiliationChanged": "app_reason_content_change",
                   "unspecified": "detail_crl_unspecified"}
REPLACING_TYPES = {"reissue": "app_type_reissue", "replacement": "app_type_replacement", "switch": "app_type_switch"}
# What a record's reason means, by the record's type: a revocation's 失効理由, a reissue's choice.
REASON_HEADINGS = {"revocation": "rv_reason", "reissue": "app_reissue_previous", "switch": "app_reissue_previous"}


def terminable(offers: dict[str, Any]) -> bool:
    """解約 in the pull-down: at the term's end or at once, as the contract's rules offer."""
    return bool(offers.get("cancel_at_term_end") or offers.get("cancel_at_once"))


def menu(request: Request, actions: dict[str, bool], contract: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(value, label) of each action the record allows, in the manual's order."""
    t = messages(request)
    allowed = {**actions, "terminate": terminable((contract or {}).get("offers") or {})}
    return [(action, t(key)) for action, key in MENU.items() if allowed.get(action)]


def _reason_key(app: Application) -> str:
    reason = app.reason or ""
    if app.type == "revocation" and reason in REASONS:
        return f"app_reason_{reason}"
    return {"after_two_weeks": "app_reissue_after_two_weeks", "immediately": "app_reissue_immediately"}.get(reason, "")


def context(request: Request, app: Application, cert: CertificateRecord | None, actions: dict[str, bool],
            contract: dict[str, Any] | None) -> dict[str, Any]:
    t = messages(request)
    followers = records.followers(request.app.state.engine, app)
    product = CATALOG.get(app.product)
    service = contract["service"] if contract else (product.name(request_language(request)) if product
                                                    else app.product)
    revoked = None
    if cert is not None and cert.state == "revoked":
        asked = [f for f in followers if f.type == "revocation" and f.status == "completed" and f.reason in REASONS]
        key = f"app_reason_{asked[-1].reason}" if asked else CRL_REASON_KEYS.get(cert.revocation_reason or "",
                                                                                 "detail_crl_unspecified")
        revoked = {"at": cert.revoked_at, "reason": t(key)}
    replaced = [{"id": f.id, "kind": t(REPLACING_TYPES[f.type]), "done": f.status == "issued"}
                for f in followers if f.type in REPLACING_TYPES and f.status not in ("rejected", "cancelled")]
    waiting = [f.id for f in followers if f.type == "revocation" and f.status == "received"]
    reason_key = _reason_key(app)
    return {"menu": menu(request, actions, contract), "service": service, "revoked_info": revoked,
            "replaced": replaced, "revocation_waiting": waiting[0] if waiting else None,
            "reason_heading": t(REASON_HEADINGS.get(app.type, "app_reason")),
            "reason_label": t(reason_key) if reason_key else ""}
