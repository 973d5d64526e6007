"""新規申請 (S-2; manual 003 §2.1): the customer's pages. The checks and the move are the JSON
API's (``api.applications.check_new``/``create_new``): the pages offer what the API accepts.

``GET /account/apply`` (the form: サービス選択, 申請規約同意 with the terms readable on the page
and at ``/account/apply/terms``, 基本情報入力 with the CSR, サーバタイプ and the coupon pull-down,
申請組織情報 and the four contacts, prefilled from アカウント情報) → ``POST /account/apply/confirm``
(確認画面: everything that will be stored, or the form again with each problem next to its
field) → ``POST /account/apply`` (申込, or 戻る). What the form did not show is never stored: the
contacts come from the form alone, and one left blank stays blank (refused if required).
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import applications as apps
from api import errors
from api.customer_auth import CustomerPrincipal, check_csrf
from api.deps import Customer, Workflows
from api.errors import InvalidFields
from api.i18n import messages
from api.profile import _labels as profile_labels
from domain import coupons as coupon_rules
from domain import new_application as rules
from domain import profile as profiles
from domain.server_types import SERVER_TYPES
from store import coupons as coupon_records
from store.models import Coupon, utcnow
from store.profiles import load_profile

router = APIRouter()
ROLES = profiles.ROLES  # all four, as アカウント情報 has them
CONTACT_FIELDS = [f for f in profiles.CONTACT_FIELDS if f.input != "checkbox"]
TRUE = ("on", "true", "1", "yes")
# 利用規約's articles, in order
TERMS = ("apply_terms_1", "apply_terms_2", "apply_terms_3", "apply_terms_4", "apply_terms_5", "apply_terms_6")
BASIC = ("product", "agree_terms", "csr", "server_type", "coupon")  # the order a person reads them


def _initial_values(request: Request, customer: CustomerPrincipal) -> dict[str, str]:
    values = profiles.to_form({k: v for k, v in load_profile(request.app.state.engine, customer).items()
                               if k in ("organization", "contacts")})
    values.pop("reseller_code", None)
    return values


def _body(values: dict[str, str]) -> apps.NewApplication:
    """The form as the API's request; ValidationError for what the model itself refuses."""
    doc = profiles.from_form(values)
    return apps.NewApplication(product=values.get("product") or "", csr=values.get("csr") or "",
                               agree_terms=values.get("agree_terms", "").lower() in TRUE,
                               coupon=values.get("coupon") or None, server_type=values.get("server_type") or "",
                               organization=doc["organization"], contacts=doc["contacts"])


def _check_form(request: Request, customer: CustomerPrincipal, values: dict[str, str]
                ) -> tuple[dict[str, str], apps.NewApplication, list[str], dict[str, Any]]:
    """The API's checks (nothing merged from the saved profile), each problem under its form field's name."""
    invalid, body = errors.form_body(request, _body, values)
    found, names, vetted = apps.check_new(request, customer, body, merge=False)
    by_field: dict[str, str] = {}
    for k, m in invalid.items():
        by_field.setdefault(k, m)
    for f in found:
        by_field.setdefault("csr" if f["field"].startswith("csr.") else f["field"], f["message"])
    return _ordered(by_field), body, names, vetted


def _ordered(problems: dict[str, str]) -> dict[str, str]:
    """The form's order: the first screen's fields, then the organization and the contacts."""
    fields = [*BASIC, *(f"organization.{f.name}" for f in profiles.ORGANIZATION_FIELDS),
              *(f"contacts.{r}.{f.name}" for r in ROLES for f in profiles.CONTACT_FIELDS)]
    rank = {name: i for i, name in enumerate(fields)}
    return dict(sorted(problems.items(), key=lambda kv: rank.get(kv[0], len(rank))))


def labels(request: Request) -> dict[str, str]:
    """Each field's label as the form shows it: the error summary names fields by these."""
    t = messages(request)
    return {**profile_labels(t), "product": t("app_step_product"), "agree_terms": t("app_step_terms"),
            "csr": t("app_csr"), "server_type": t("apply_server_type"), "coupon": t("app_coupon")}


def _coupons(request: Request, customer: CustomerPrincipal, chosen: str) -> list[Coupon]:
    """The pull-down: the customer's usable coupons, and the one chosen even if it is not (its refusal shows)."""
    now = utcnow()
    own = coupon_records.of_customer(request.app.state.engine, customer.id)
    usable = [c for c in own if coupon_rules.state(coupon_records.facts(c), now) == "usable"]
    if chosen and all(c.code != chosen for c in usable):
        usable.append(Coupon(code=chosen, customer_id=customer.id, description="", valid_from=now, valid_until=now,
                             issued_by=""))
    return usable


def _context(request: Request, customer: CustomerPrincipal, values: dict[str, str]) -> dict[str, Any]:
    return {"values": values, "roles": ROLES, "required_roles": rules.REQUIRED_ROLES,
            "organization_fields": profiles.ORGANIZATION_FIELDS, "contact_fields": CONTACT_FIELDS,
            "server_types": SERVER_TYPES, "labels": labels(request), "terms": TERMS,
            "coupons": _coupons(request, customer, values.get("coupon", ""))}


def _apply_form(request: Request, customer: CustomerPrincipal, values: dict[str, str],
                problems: dict[str, str] | None = None) -> Response:
    problems = problems or {}
    return apps._page(request, "portal/apply.html", customer, 422 if problems else 200, errors=problems,
                      **_context(request, customer, values))


async def _values(request: Request) -> dict[str, str]:
    values = await apps._form(request)
    values.pop("csrf_token", None)
    return values


@router.get("/account/apply", response_class=HTMLResponse)
async def apply_page(request: Request, customer: Customer) -> Response:
    return _apply_form(request, customer, _initial_values(request, customer))


@router.get("/account/apply/terms", response_class=HTMLResponse)
async def terms_page(request: Request, customer: Customer) -> Response:
    return apps._page(request, "portal/apply_terms.html", customer, terms=TERMS)


@router.post("/account/apply/confirm", response_class=HTMLResponse)
async def apply_confirm_page(request: Request, customer: Customer) -> Response:
    values = await _values(request)
    values.pop("step", None)
    problems, _, _, _ = _check_form(request, customer, values)
    if problems:
        return _apply_form(request, customer, values, problems)
    chosen = next((c for c in _coupons(request, customer, "") if c.code == values.get("coupon")), None)
    return apps._page(request, "portal/apply_confirm.html", customer, hidden=values, coupon=chosen,
                      **_context(request, customer, values))


@router.post("/account/apply", response_class=HTMLResponse)
async def apply_submit(request: Request, customer: Customer, workflows: Workflows) -> Response:
    values = await apps._form(request)
    check_csrf(customer, values.pop("csrf_token", None))
    if values.pop("step", "apply") == "back":  # 戻る: the form again, with what was entered
        return _apply_form(request, customer, values)
    problems, body, names, vetted = _check_form(request, customer, values)  # hidden fields may have changed
    if problems:
        return _apply_form(request, customer, values, problems)
    try:
        app = await apps.create_new(request, workflows, customer, body, names, vetted)
    except InvalidFields as bad:  # the coupon was used meanwhile
        return _apply_form(request, customer, values, {f["field"]: f["message"] for f in bad.fields})
    return RedirectResponse(f"/account/applications/{app.id}?done=applied", status_code=303)
