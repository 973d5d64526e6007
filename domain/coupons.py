"""Coupons (クーポン管理; manual 003 §2.1(4) 「プルダウンから利用するクーポン番号を選択」): the rules.

A coupon is bought by one customer and used by at most one of that customer's applications,
inside its validity. What a customer may pick in the form is exactly what an application may
use: ``state`` decides both. Another customer's coupon reads as unknown (it reveals nothing).
"""

import re
from dataclasses import dataclass
from datetime import datetime

CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,39}")  # クーポン番号: letters, digits, hyphens
STATES = ("usable", "used", "expired", "not_yet_valid")
REFUSALS = ("unknown", "used", "expired", "not_yet_valid")  # why an application may not use one


@dataclass(frozen=True)
class CouponFacts:
    code: str
    customer_id: int
    valid_from: datetime
    valid_until: datetime
    used: bool


def state(coupon: CouponFacts, now: datetime) -> str:
    """usable | used | expired | not_yet_valid (a used coupon stays "used" after its end)."""
    if coupon.used:
        return "used"
    if now >= coupon.valid_until:
        return "expired"
    if now < coupon.valid_from:
        return "not_yet_valid"
    return "usable"


def refusal(coupon: CouponFacts | None, customer_id: int, now: datetime) -> str | None:
    """Why an application of ``customer_id`` may not use the coupon (a REFUSALS code), or None."""
    if coupon is None or coupon.customer_id != customer_id:
        return "unknown"
    found = state(coupon, now)
    return None if found == "usable" else found


def code_problem(code: str) -> str | None:
    """For staff issuing one: "code" when the クーポン番号 is not 1–40 letters, digits and hyphens."""
    return None if CODE.fullmatch(code) else "code"


def validity_problem(valid_from: datetime, valid_until: datetime) -> str | None:
    return None if valid_from < valid_until else "validity"
