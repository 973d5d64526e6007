"""The portal's login certificate for a new person in charge (S-12, FAQ Q2): what support is shown,
the new person's invitation, and the account's second factor moving to the new certificate.

Idempotent on the handover key: one invitation (one enrollment, one mail) per handover, however
often an activity is retried. The one-time password is made, hashed and mailed inside the
invitation activity, so it never passes through the workflow's history.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from activities.mail import MailActivities, MailRequest
from domain import enrollment as e
from domain import secret_hashing
from store import accounts, audit
from store import passphrase as store_passphrase
from store.db import session_scope
from store.models import Customer, CustomerProfile, Enrollment, SentEmail, utcnow

MAIL_TEMPLATES = {"completed": "login_handover_completed", "rejected": "login_handover_rejected",
                  "not_completed": "login_handover_not_completed"}


@dataclass
class HandoverRef:
    handover_key: str
    customer_id: int
    person_name: str
    person_email: str
    language: str = "ja"


def login_user_id(access_key: str, handover_key: str) -> str:
    """The new person's login user under the portal's tenant, one per handover; the mails greet
    the person by it, so it reads as the account's: access key and handover."""
    return f"{access_key}-{handover_key}"


@dataclass
class HandoverFacts:
    title: str
    facts: dict[str, str] = field(default_factory=dict)


@dataclass
class Invitation:
    enrollment_id: int
    workflow_id: str


def _customer(s: Session, customer_id: int) -> Customer:
    customer = s.get(Customer, customer_id)
    if customer is None:
        raise ApplicationError("the customer no longer exists", type="not_found", non_retryable=True)
    return customer


def _enrollment(s: Session, tenant_id: int, user_id: str) -> Enrollment | None:
    return s.exec(select(Enrollment).where(Enrollment.tenant_id == tenant_id, Enrollment.user_id == user_id)).first()


class LoginHandoverActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx
        self.mail = MailActivities(ctx)

    @activity.defn(name="login_handover_facts")
    def handover_facts(self, ref: HandoverRef, stated_reseller_code: str) -> HandoverFacts:
        """What support compares on the phone: the 特約店コード said against the one on file."""
        with session_scope(self.ctx.engine) as s:
            customer = _customer(s, ref.customer_id)
            profile = s.exec(select(CustomerProfile).where(CustomerProfile.customer_id == customer.id)).first()
            on_file = profile.reseller_code if profile else ""
            stated = stated_reseller_code.strip()
            return HandoverFacts(f"{customer.organization} ({customer.access_key})", {
                "access_key": customer.access_key, "organization": customer.organization,
                "reseller_code_on_file": on_file or "-", "reseller_code_stated": stated or "-",
                "reseller_code_matches": "yes" if stated and stated == on_file else "no",
                "new_person_name": ref.person_name, "new_person_email": ref.person_email,
                "current_certificate": customer.client_cert_serial or "-"})

    @activity.defn(name="invite_new_person_in_charge")
    def invite_new_person(self, ref: HandoverRef, actor: str, otp_seconds: float) -> Invitation:
        """The new person's registration: an enrollment under the portal's tenant, and the mail with
        its link and one-time password. Once that mail is out, a retry returns the same enrollment;
        before it, a retry makes a new one-time password (nobody has seen the old one)."""
        settings = self.ctx.settings
        key = f"login-handover-invitation:{ref.handover_key}"
        tenant_id = accounts.portal_tenant_id(self.ctx.engine)
        with session_scope(self.ctx.engine) as s:
            user_id = login_user_id(_customer(s, ref.customer_id).access_key, ref.handover_key)
            row = _enrollment(s, tenant_id, user_id)
            sent = s.exec(select(SentEmail).where(SentEmail.business_key == key, SentEmail.state == "sent")).first()
            if row is not None and sent is not None:
                return Invitation(int(row.id or 0), row.workflow_id)
        otp = e.new_otp()
        otp_hash = secret_hashing.hash_code(store_passphrase.hashing_keys(settings), otp)
        with session_scope(self.ctx.engine) as s:
            row = _enrollment(s, tenant_id, user_id)
            if row is None:
                public_id = e.new_public_id()
                row = Enrollment(public_id=public_id, kind="registration", tenant_id=tenant_id,
                                 user_id=user_id, email=ref.person_email, certificate_name=ref.person_name,
                                 language=ref.language, workflow_id=f"login-registration-{public_id}",
                                 expires_at=utcnow())
            row.otp_hash = otp_hash
            row.expires_at = utcnow().replace(microsecond=0) + timedelta(seconds=otp_seconds)
            s.add(row)
            s.flush()
            audit.record(s, actor, "login_handover.invited", f"customer:{ref.customer_id}",
                         enrollment=row.public_id, handover=ref.handover_key)
            invitation = Invitation(int(row.id or 0), row.workflow_id)
            token = e.link_token(e.link_key(store_passphrase.passphrase(settings)), row.public_id)
            organization = _customer(s, ref.customer_id).organization
            expires_at = row.expires_at
        self.mail.send_email(MailRequest(key, ref.person_email, "login_handover_invitation", ref.language, {
            "person_name": ref.person_name, "organization": organization,
            "enrollment_url": f"{settings.resolved_public_url}/enroll/{token}", "one_time_password": otp,
            "expires_at": expires_at.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")}))
        return invitation

    @activity.defn(name="bind_new_login_certificate")
    def bind_new_certificate(self, ref: HandoverRef, enrollment_id: int) -> str:
        """The downloaded certificate becomes the account's second factor; returns the serial it
        replaces ('' for none) for the workflow to revoke. A retry finds it bound and says the same."""
        with session_scope(self.ctx.engine) as s:
            enrollment = s.get(Enrollment, enrollment_id)
            if enrollment is None or not enrollment.certificate_serial:
                raise ApplicationError("the new person's certificate is not there", type="not_found",
                                       non_retryable=True)
            customer = s.exec(select(Customer).where(Customer.id == ref.customer_id).with_for_update()).first()
            if customer is None:
                raise ApplicationError("the customer no longer exists", type="not_found", non_retryable=True)
            new = enrollment.certificate_serial
            if customer.client_cert_serial == new:
                replaced = enrollment.previous_serial or ""
            else:
                replaced = customer.client_cert_serial or ""
                customer.client_cert_serial = new
                # Remembered on the enrollment, so that a retry after this commit names it again.
                enrollment.previous_serial = replaced or None
                s.add(customer)
                s.add(enrollment)
                audit.record(s, "workflow", "customer.client_certificate_bound", f"customer:{customer.id}",
                             serial=new, replaces=replaced or None, handover=ref.handover_key)
            return "" if replaced == new else replaced

    @activity.defn(name="mail_login_handover")
    def mail_handover(self, ref: HandoverRef, event: str, note: str) -> bool:
        """The account's own address is told how the handover ended (a new person now holds its
        second factor, or why not)."""
        with session_scope(self.ctx.engine) as s:
            customer = _customer(s, ref.customer_id)
            email, organization, access_key = customer.email, customer.organization, customer.access_key
        return self.mail.send_email(MailRequest(
            f"login-handover-{event}:{ref.handover_key}", email, MAIL_TEMPLATES[event], ref.language,
            {"organization": organization, "access_key": access_key, "person_name": ref.person_name,
             "person_email": ref.person_email, "note": note}))
