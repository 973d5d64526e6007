"""Login certificates (L-1, L-3): the enrollment record, issuance, delivery, revocation, mail.

Every activity is idempotent: issuance on the workflow id (the CA's request key), mail on a
business key per enrollment and event, and state changes on the row's own state. Nothing
secret is passed in or returned: steps that need hashes name an ``EnrollmentDraft`` row.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, delete, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from activities.mail import MailActivities, MailRequest
from ca import authority
from domain.enrollment import ended, link_key, link_token, progress
from domain.pki.hierarchy import CLIENT_CA
from store import audit, certificates, devices, sealed_answers
from store import passphrase as store_passphrase
from store.db import session_scope
from store.models import Enrollment, EnrollmentDraft, LoginUser, Tenant, utcnow

# What the secret steps seal (the download password), and what a download seals (its PKCS#12).
SECRET_STEPS = ("secret", "answer")
DOWNLOAD_STEP = "download"


@dataclass
class EnrollmentChange:
    enrollment_id: int
    state: str
    actor: str
    expires_at: str | None = None  # a new deadline for the person's step (a reissue unlocked)


@dataclass
class DraftRef:
    enrollment_id: int
    draft_id: int
    actor: str


@dataclass
class EnrollmentFacts:
    """What a support task about an enrollment shows."""

    public_id: str
    user: str  # "<tenant name> / <user id>"
    certificate_serial: str


@dataclass
class Issuance:
    enrollment_id: int
    request_key: str  # the workflow id: one certificate per enrollment, ever
    download_expires_at: str


@dataclass
class LoginRevocation:
    serial: str
    reason: str  # RFC 5280 name
    actor: str


def subject_of(enrollment: Enrollment) -> str:
    return f"enrollment:{enrollment.public_id}"


class LoginCertActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx
        self.mail = MailActivities(ctx)

    def _enrollment(self, s, enrollment_id: int) -> Enrollment:  # type: ignore[no-untyped-def]
        row = s.get(Enrollment, enrollment_id)
        if row is None:
            raise ApplicationError(f"enrollment {enrollment_id} no longer exists", non_retryable=True)
        return row

    @activity.defn(name="set_enrollment_state")
    def set_enrollment_state(self, change: EnrollmentChange) -> None:
        with session_scope(self.ctx.engine) as s:
            row = self._enrollment(s, change.enrollment_id)
            if row.state == change.state and change.expires_at is None:
                return
            if progress(row.kind, change.state) < progress(row.kind, row.state):
                return  # a late mirror of a step the process has left behind
            previous, row.state, row.updated_at = row.state, change.state, utcnow()
            if change.expires_at:
                row.expires_at = datetime.fromisoformat(change.expires_at)
            s.add(row)
            if ended(row.kind, change.state):  # what was prepared for a step never taken goes with it
                s.exec(delete(EnrollmentDraft).where(col(EnrollmentDraft.enrollment_id) == row.id))  # type: ignore[call-overload]
                sealed_answers.forget(s, int(row.id or 0), SECRET_STEPS)
            audit.record(s, change.actor, "enrollment.state", subject_of(row), previous=previous,
                         state=change.state, kind=row.kind)

    @activity.defn(name="register_enrollment_credentials")
    def register_credentials(self, ref: DraftRef) -> None:
        """Adopts the accepted draft: the secret question (registration) and the download password."""
        with session_scope(self.ctx.engine) as s:
            row = self._enrollment(s, ref.enrollment_id)
            draft = s.get(EnrollmentDraft, ref.draft_id)
            if draft is None or draft.enrollment_id != row.id:
                if row.download_password_hash:
                    return  # adopted by an earlier attempt
                raise ApplicationError("the prepared credentials are gone", non_retryable=True)
            row.download_password_hash = draft.download_password_hash
            row.state, row.step_hash = "issuing", None  # at once: the person's next look must not offer the step again
            if row.kind == "registration" and devices.added_device_of(s, int(row.id or 0)) is None:
                user = s.exec(select(LoginUser).where(LoginUser.tenant_id == row.tenant_id,
                                                      LoginUser.user_id == row.user_id)).first()
                if user is None:
                    user = LoginUser(tenant_id=row.tenant_id, user_id=row.user_id, email=row.email,
                                     certificate_name=row.certificate_name)
                user.email, user.certificate_name, user.language = row.email, row.certificate_name, row.language
                user.question_id, user.answer_hash, user.updated_at = draft.question_id, draft.answer_hash, utcnow()
                s.add(user)
                s.flush()
                row.login_user_id = user.id
            row.updated_at = utcnow()
            s.add(row)
            s.exec(delete(EnrollmentDraft).where(col(EnrollmentDraft.enrollment_id) == row.id))  # type: ignore[call-overload]
            audit.record(s, ref.actor, "enrollment.credentials_set", subject_of(row), kind=row.kind,
                         question_id=draft.question_id)

    @activity.defn(name="issue_enrollment_certificate")
    def issue_certificate(self, req: Issuance) -> str:
        with session_scope(self.ctx.engine) as s:
            row = self._enrollment(s, req.enrollment_id)
            name = row.certificate_name
        issued = authority.issue_login(self.ctx.engine, self.ctx.settings, req.request_key, name, "timer")
        with session_scope(self.ctx.engine) as s:
            row = self._enrollment(s, req.enrollment_id)
            if row.certificate_serial != issued.serial:
                row.certificate_serial, row.state = issued.serial, "download"
                row.download_expires_at = datetime.fromisoformat(req.download_expires_at)
                row.updated_at = utcnow()
                s.add(row)
        return issued.serial

    @activity.defn(name="mail_enrollment")
    def mail_enrollment(self, enrollment_id: int, event: str, occasion: str = "") -> bool:
        """``login_download_guide`` or ``login_reissue_guide``, once per enrollment;
        ``login_download_password_reset`` once per ``occasion`` (the reset's draft)."""
        settings = self.ctx.settings
        with session_scope(self.ctx.engine) as s:
            row = self._enrollment(s, enrollment_id)
            tenant = s.get(Tenant, row.tenant_id)
            token = link_token(link_key(store_passphrase.passphrase(settings)), row.public_id)
            base = settings.resolved_public_url
            context = {
                "user_id": row.user_id,
                "certificate_name": row.certificate_name,
                "website": tenant.name if tenant else "",
                "download_url": f"{base}/download/{token}",
                "reissue_url": f"{base}/reissue/{token}",
                "manual_url": f"{base}/help/download",
            }
            key = f"{event}:{row.public_id}" + (f":{occasion}" if occasion else "")
            req = MailRequest(key, row.email, event, row.language, context)
        return self.mail.send_email(req)

    @activity.defn(name="finish_enrollment_download")
    def finish_download(self, enrollment_id: int, actor: str) -> str:
        """The PKCS#12 was handed over: the key is discarded and the certificate becomes the
        user's. Returns the serial it replaces ('' if none) for the workflow to revoke."""
        with session_scope(self.ctx.engine) as s:
            row = self._enrollment(s, enrollment_id)
            cert = certificates.known_certificate(s, CLIENT_CA, row.certificate_serial)
            cert.private_key_pem = None
            s.add(cert)
            user = s.get(LoginUser, row.login_user_id) if row.login_user_id else None
            if row.state == "downloaded":
                return row.previous_serial or ""
            # The device list says which certificate this one replaces: none for an added device
            # (L-4: each device keeps its own); the primary one moves with a reissue or re-registration.
            previous = devices.record_certificate(s, user, row, cert.serial) if user else None
            if user is not None and user.certificate_serial in (None, previous) and previous != cert.serial:
                user.certificate_serial, user.updated_at = cert.serial, utcnow()
                s.add(user)
            row.previous_serial = row.previous_serial or (previous if previous != cert.serial else None)
            if previous == cert.serial:  # a device deleted before its download (L-4): revoked as well
                row.previous_serial = cert.serial
            row.state, row.updated_at = "downloaded", utcnow()
            s.add(row)
            sealed_answers.forget(s, enrollment_id, SECRET_STEPS)  # the PKCS#12's own seal lingers a while
            audit.record(s, actor, "enrollment.downloaded", subject_of(row), serial=cert.serial,
                         replaces=row.previous_serial)
            return row.previous_serial or ""

    @activity.defn(name="discard_undelivered_certificate")
    def discard_undelivered(self, change: EnrollmentChange) -> None:
        """The download did not happen (window closed, locked, replaced): the key is discarded and
        the certificate nobody received is revoked, so it never shows as good."""
        with session_scope(self.ctx.engine) as s:
            row = self._enrollment(s, change.enrollment_id)
            serial = row.certificate_serial
        if serial:
            authority.revoke(self.ctx.engine, self.ctx.settings, CLIENT_CA, serial, "cessationOfOperation",
                             change.actor)
        self.forget_sealed_answers(change.enrollment_id)
        self.set_enrollment_state(change)

    @activity.defn(name="forget_sealed_answers")
    def forget_sealed_answers(self, enrollment_id: int, steps: list[str] | None = None) -> int:
        """The window in which a browser may ask again for its download password (or its PKCS#12:
        ``steps``) has closed."""
        with session_scope(self.ctx.engine) as s:
            return sealed_answers.forget(s, enrollment_id, steps or ())

    @activity.defn(name="reset_enrollment_download_password")
    def reset_download_password(self, ref: DraftRef) -> bool:
        """「ダウンロードパスワードを忘れた」: the draft's download password replaces the old one, which
        stops working; the download window is unchanged. False when an earlier attempt did it."""
        with session_scope(self.ctx.engine) as s:
            row = self._enrollment(s, ref.enrollment_id)
            draft = s.get(EnrollmentDraft, ref.draft_id)
            if draft is None or draft.enrollment_id != row.id:
                return False  # adopted by an earlier attempt (adoption deletes the drafts)
            row.download_password_hash, row.updated_at = draft.download_password_hash, utcnow()
            s.add(row)
            s.exec(delete(EnrollmentDraft).where(col(EnrollmentDraft.enrollment_id) == row.id))  # type: ignore[call-overload]
            sealed_answers.forget(s, int(row.id or 0))  # a seal of the old password opens nothing now
            audit.record(s, ref.actor, "enrollment.download_password_reset", subject_of(row), kind=row.kind)
            return True

    @activity.defn(name="describe_enrollment")
    def describe_enrollment(self, enrollment_id: int) -> EnrollmentFacts:
        with session_scope(self.ctx.engine) as s:
            row = self._enrollment(s, enrollment_id)
            tenant = s.get(Tenant, row.tenant_id)
            return EnrollmentFacts(row.public_id, f"{tenant.name if tenant else row.tenant_id} / {row.user_id}",
                                   row.certificate_serial or "")

    @activity.defn(name="revoke_login_certificate")
    def revoke_login_certificate(self, req: LoginRevocation) -> bool:
        try:
            return authority.revoke(self.ctx.engine, self.ctx.settings, CLIENT_CA, req.serial, req.reason, req.actor)
        except (LookupError, ValueError) as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None
