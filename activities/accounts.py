"""Customer account side effects driven by workflows."""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import delete, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from activities.mail import MailActivities, MailRequest
from domain import credentials
from domain.throttle import CUSTOMER, name_key
from store import audit, throttle
from store.db import session_scope
from store.models import Customer, CustomerSession, SentEmail


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


@dataclass
class PasswordResetRef:
    customer_id: int
    reset_key: str  # the reset's workflow id and run: one new password per reset, ever
    expires_at: str  # ISO-8601, from the workflow's clock: when the new initial password expires
    language: str = "ja"


@dataclass
class NewInitialPassword:
    password_version: int
    expires_at: str  # ISO-8601


class PasswordResetActivities:
    """A reset: a new initial password that only the customer's mailbox ever sees."""

    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="reset_customer_password")
    def reset_customer_password(self, ref: PasswordResetRef) -> NewInitialPassword:
        """Sets a new initial password, clears the lock and mails the password.

        Idempotent on ``reset_key``: once the mail is out, a retry returns the same version.
        If an earlier attempt stored a password but crashed before mailing it, nobody has
        seen that password, so the retry makes another one and mails that.
        """
        key = f"password-reset:{ref.reset_key}"
        with session_scope(self.ctx.engine) as s:
            sent = s.exec(select(SentEmail).where(SentEmail.business_key == key, SentEmail.state == "sent")).first()
            customer = s.get(Customer, ref.customer_id)
            if customer is None:
                raise ApplicationError("the customer no longer exists", non_retryable=True)
            if sent is not None:
                return NewInitialPassword(customer.password_version, _iso(customer.password_expires_at))
        password = credentials.new_initial_password()
        with session_scope(self.ctx.engine) as s:
            customer = s.exec(select(Customer).where(Customer.id == ref.customer_id).with_for_update()).one()
            customer.password_hash = credentials.hash_password(password)
            customer.password_is_initial, customer.password_expired = True, False
            customer.password_version += 1
            customer.password_expires_at = datetime.fromisoformat(ref.expires_at)
            s.add(customer)
            # Whoever held a session with the old password holds nothing now.
            s.exec(delete(CustomerSession).where(CustomerSession.customer_id == customer.id))
            audit.record(s, "workflow", "customer.password_reset", f"customer:{customer.id}",
                         password_version=customer.password_version, reset=ref.reset_key)
            result = NewInitialPassword(customer.password_version, _iso(customer.password_expires_at))
            email, org, access_key = customer.email, customer.organization, customer.access_key
        # Support has confirmed who asked: the access key's login lock (api.throttle) ends too.
        throttle.forget(self.ctx.engine, name_key(CUSTOMER, access_key))
        zone = ZoneInfo(self.ctx.settings.timezone)
        MailActivities(self.ctx).send_email(MailRequest(
            business_key=key, recipient=email, template="password_reset_done", language=ref.language,
            context={"organization": org, "access_key": access_key, "initial_password": password,
                     "expires_on": datetime.fromisoformat(result.expires_at).astimezone(zone).date().isoformat()}))
        return result

    @activity.defn(name="notify_password_reset_rejected")
    def notify_password_reset_rejected(self, ref: PasswordResetRef, note: str) -> None:
        with session_scope(self.ctx.engine) as s:
            customer = s.get(Customer, ref.customer_id)
            if customer is None:
                return
            email, org, access_key = customer.email, customer.organization, customer.access_key
        MailActivities(self.ctx).send_email(MailRequest(
            business_key=f"password-reset-rejected:{ref.reset_key}", recipient=email,
            template="password_reset_rejected", language=ref.language,
            context={"organization": org, "access_key": access_key, "note": note}))


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""
