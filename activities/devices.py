"""A device's registration invitation (L-4, 付録 1): the one-time password to the device's email.

Made, hashed and mailed inside the activity, so it never enters a workflow history. Idempotent
on the enrollment: once the mail is out, a retry does nothing; before it, a retry makes a new
one-time password (nobody has seen the old one).
"""

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from activities.mail import MailActivities, MailRequest
from domain import enrollment as e
from domain import secret_hashing
from store import audit
from store import passphrase as store_passphrase
from store.db import session_scope
from store.models import Enrollment, SentEmail, Tenant, utcnow

MAIL_TEMPLATE = "login_device_invitation"


class DeviceActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx
        self.mail = MailActivities(ctx)

    @activity.defn(name="invite_device")
    def invite_device(self, enrollment_id: int, otp_seconds: float) -> bool:
        """Mails the device's registration link and a new one-time password; False when an
        earlier attempt did."""
        settings = self.ctx.settings
        with session_scope(self.ctx.engine) as s:
            row = s.get(Enrollment, enrollment_id)
            if row is None:
                raise ApplicationError(f"enrollment {enrollment_id} no longer exists", non_retryable=True)
            key = f"{MAIL_TEMPLATE}:{row.public_id}"
            if s.exec(select(SentEmail).where(SentEmail.business_key == key, SentEmail.state == "sent")).first():
                return False
        otp = e.new_otp()
        otp_hash = secret_hashing.hash_code(store_passphrase.hashing_keys(settings), otp)  # as the tenant's invitation
        with session_scope(self.ctx.engine) as s:
            row = s.get(Enrollment, enrollment_id)
            if row is None:
                raise ApplicationError(f"enrollment {enrollment_id} no longer exists", non_retryable=True)
            row.otp_hash, row.updated_at = otp_hash, utcnow()
            row.expires_at = utcnow().replace(microsecond=0) + timedelta(seconds=otp_seconds)
            s.add(row)
            tenant = s.get(Tenant, row.tenant_id)
            audit.record(s, "system", "device.invited", f"enrollment:{row.public_id}", user_id=row.user_id)
            token = e.link_token(e.link_key(store_passphrase.passphrase(settings)), row.public_id)
            request = MailRequest(key, row.email, MAIL_TEMPLATE, row.language, {
                "user_id": row.user_id, "certificate_name": row.certificate_name,
                "website": tenant.name if tenant else "",
                "enrollment_url": f"{settings.resolved_public_url}/enroll/{token}", "one_time_password": otp,
                "expires_at": row.expires_at.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")})
        return self.mail.send_email(request)
