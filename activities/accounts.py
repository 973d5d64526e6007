"""Customer account side effects driven by workflows."""

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import select
from temporalio import activity

from activities import audit
from activities.context import ActivityContext
from domain.db import session_scope
from domain.models import Customer


@dataclass
class InitialPasswordRef:
    customer_id: int
    password_version: int


@dataclass
class ExpiryResult:
    expired: bool
    email: str = ""
    access_key: str = ""
    organization: str = ""
    expired_on: str = ""  # the customer's calendar date, in the configured time zone


class AccountActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="expire_initial_password")
    def expire_initial_password(self, ref: InitialPasswordRef) -> ExpiryResult:
        """Invalidates the initial password if it is still the one the timer was set for.

        Idempotent: a retry finds it already expired and reports the same result.
        """
        with session_scope(self.ctx.engine) as s:
            customer = s.exec(select(Customer).where(Customer.id == ref.customer_id).with_for_update()).first()
            if (customer is None or customer.password_version != ref.password_version
                    or not customer.password_is_initial):
                return ExpiryResult(expired=False)
            if not customer.password_expired:
                customer.password_expired = True
                s.add(customer)
                audit.record(s, audit.TIMER, "initial_password.expired", f"customer:{customer.id}",
                             password_version=ref.password_version)
            expires_at = customer.password_expires_at
            expired_on = (expires_at.astimezone(ZoneInfo(self.ctx.settings.timezone)).date().isoformat()
                          if expires_at else "")
            return ExpiryResult(expired=True, email=customer.email, access_key=customer.access_key,
                                organization=customer.organization, expired_on=expired_on)
