"""クーポン管理 (manual 003: 「クーポン管理画面にてクーポン情報を参照」): the customer's coupons.

``GET /account/coupons`` (the page: code, discount, validity, used or not and by which
application) and ``GET /api/v1/account/coupons`` (the same, JSON). Staff issue a coupon to a
customer with ``POST /api/v1/staff/coupons`` ``{"access_key", "code", "description",
"valid_from"?, "valid_until"}``; a new application may then pick it (``api.applications``).
"""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api import applications as apps
from api import errors
from api.customer_auth import CustomerPrincipal
from api.deps import Customer, Staff
from api.i18n import messages
from domain import coupons as rules
from domain.text import line_problem
from store import coupons as records
from store.models import Coupon, utcnow

router = APIRouter()


class CouponIssue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    access_key: str = Field(pattern=r"^\d{8}$")
    code: str = Field(min_length=1, max_length=40)
    description: str = Field("", max_length=200)
    valid_from: datetime | None = None  # now when left out
    valid_until: datetime


def coupon_json(coupon: Coupon, now: datetime) -> dict[str, Any]:
    return {"code": coupon.code, "description": coupon.description, "valid_from": coupon.valid_from.isoformat(),
            "valid_until": coupon.valid_until.isoformat(), "state": rules.state(records.facts(coupon), now),
            "application_id": coupon.application_id, "used_at": coupon.used_at.isoformat() if coupon.used_at else None}


def _rows(request: Request, customer: CustomerPrincipal) -> list[dict[str, Any]]:
    now = utcnow()
    return [coupon_json(c, now) for c in records.of_customer(request.app.state.engine, customer.id)]


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when  # a time without an offset is UTC


@router.get("/api/v1/account/coupons")
async def api_coupons(request: Request, customer: Customer) -> JSONResponse:
    return JSONResponse(_rows(request, customer), headers=apps.NO_STORE)


@router.get("/account/coupons", response_class=HTMLResponse)
async def coupons_page(request: Request, customer: Customer) -> Response:
    return apps._page(request, "portal/coupons.html", customer, rows=_rows(request, customer))


@router.post("/api/v1/staff/coupons", status_code=201)
async def issue(request: Request, body: CouponIssue, staff: Staff) -> Response:
    t = messages(request)
    valid_from, valid_until = (_utc(body.valid_from) if body.valid_from else utcnow()), _utc(body.valid_until)
    problems = []
    if rules.code_problem(body.code):
        problems.append({"field": "code", "message": t("coupon_issue_code")})
    if (line := line_problem(body.description, 200, False)) is not None:
        problems.append({"field": "description", "message": errors.field_message(request, line[0], line[1])})
    if rules.validity_problem(valid_from, valid_until):
        problems.append({"field": "valid_until", "message": t("coupon_issue_validity")})
    if problems:
        return errors.invalid(request, problems)
    try:
        coupon = records.issue(request.app.state.engine, staff.actor, body.access_key, body.code, body.description,
                               valid_from, valid_until)
    except records.NoSuchCustomer:
        return JSONResponse({"error": "not_found", "message": t("coupon_issue_no_customer"),
                             "fields": [{"field": "access_key", "message": t("coupon_issue_no_customer")}]},
                            status_code=404)
    except records.CouponExists:
        return JSONResponse({"error": "coupon_exists", "message": t("coupon_issue_exists"),
                             "fields": [{"field": "code", "message": t("coupon_issue_exists")}]}, status_code=409)
    return JSONResponse({"access_key": body.access_key, **coupon_json(coupon, utcnow())}, status_code=201)
