"""「ログイン方法変更のお知らせ」 (L-5): the mail that tells a login user their login method changed.

The account pages change the method; the web process sends no mail itself, so it starts
``LoginMethodNotice``, whose one step is this activity. Idempotent on the change (user, time).
"""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from activities.mail import MailActivities, MailRequest
from domain.login_methods import message_name
from domain.messages import translator
from store.db import session_scope
from store.models import LoginUser, Tenant

MAIL_TEMPLATE = "login_method_changed"


@dataclass
class LoginMethodChange:
    login_user_id: int
    previous: str  # domain.login_methods.METHODS
    method: str
    changed_at: str  # ISO-8601 UTC, as stored; with the user, the change's business key


class LoginMethodActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx
        self.mail = MailActivities(ctx)

    @activity.defn(name="mail_login_method_changed")
    def mail_login_method_changed(self, change: LoginMethodChange) -> bool:
        """False when this change was mailed already."""
        settings = self.ctx.settings
        with session_scope(self.ctx.engine) as s:
            user = s.get(LoginUser, change.login_user_id)
            if user is None:
                raise ApplicationError(f"login user {change.login_user_id} no longer exists", non_retryable=True)
            tenant = s.get(Tenant, user.tenant_id)
            t = translator(user.language)
            when = datetime.fromisoformat(change.changed_at).astimezone(ZoneInfo(settings.timezone))
            request = MailRequest(
                f"{MAIL_TEMPLATE}:{user.id}:{change.changed_at}", user.email, MAIL_TEMPLATE, user.language,
                {"user_id": user.user_id, "website": tenant.name if tenant else "",
                 "previous": t("lm_method_" + message_name(change.previous)),
                 "method": t("lm_method_" + message_name(change.method)),
                 "changed_at": when.strftime("%Y-%m-%d %H:%M")})
        return self.mail.send_email(request)
