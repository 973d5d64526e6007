"""Coupons (クーポン管理): issued by staff to one customer, claimed by one application.

Claiming is one conditional UPDATE (unused, the customer's, inside its validity), so two
applications sent at once cannot both use a coupon; a record discarded because its process never
started gives its coupon back (``release``).
"""

from datetime import datetime

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from domain.coupons import CouponFacts
from store import audit
from store.db import session_scope
from store.models import Coupon, Customer, utcnow


class CouponExists(Exception):
    """The クーポン番号 is taken (codes are unique across customers)."""


class NoSuchCustomer(Exception):
    pass


def facts(coupon: Coupon) -> CouponFacts:
    return CouponFacts(coupon.code, coupon.customer_id, coupon.valid_from, coupon.valid_until,
                       coupon.application_id is not None)


def issue(engine: Engine, actor: str, access_key: str, code: str, description: str, valid_from: datetime,
          valid_until: datetime) -> Coupon:
    with session_scope(engine) as s:
        customer = s.exec(select(Customer).where(Customer.access_key == access_key)).first()
        if customer is None:
            raise NoSuchCustomer(access_key)
        coupon = Coupon(code=code, customer_id=int(customer.id or 0), description=description,
                        valid_from=valid_from, valid_until=valid_until, issued_by=actor)
        s.add(coupon)
        try:
            s.flush()
        except IntegrityError:
            raise CouponExists(code) from None
        audit.record(s, actor, "coupon.issued", f"customer:{customer.id}", code=code,
                     valid_until=valid_until.isoformat())
        return coupon


def of_customer(engine: Engine, customer_id: int) -> list[Coupon]:
    """The customer's coupons, the latest ending first."""
    with session_scope(engine) as s:
        return list(s.exec(select(Coupon).where(Coupon.customer_id == customer_id)
                           .order_by(col(Coupon.valid_until).desc(), col(Coupon.id).desc())).all())


def find(engine: Engine, code: str) -> Coupon | None:
    with session_scope(engine) as s:
        return s.exec(select(Coupon).where(Coupon.code == code)).first()


def claim(engine: Engine, actor: str, code: str, customer_id: int, application_id: int,
          now: datetime | None = None) -> bool:
    """Marks the coupon used by the application; False when it is not (any longer) the customer's
    to use: someone else's, used, or outside its validity."""
    now = now or utcnow()
    with session_scope(engine) as s:
        done = s.execute(update(Coupon)
                         .where(col(Coupon.code) == code, col(Coupon.customer_id) == customer_id,
                                col(Coupon.application_id).is_(None), col(Coupon.valid_from) <= now,
                                col(Coupon.valid_until) > now)
                         .values(application_id=application_id, used_at=now))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            return False
        audit.record(s, actor, "coupon.used", f"application:{application_id}", code=code)
        return True


def release(engine: Engine, application_id: int) -> None:
    """The application was never started: its coupon is unused again."""
    with session_scope(engine) as s:
        s.execute(update(Coupon).where(col(Coupon.application_id) == application_id)
                  .values(application_id=None, used_at=None))
