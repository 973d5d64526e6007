"""Initial password expiry (S-1, manual section 1): an initial password is valid for a
fixed time and must be changed; if it is not, a durable timer invalidates it and the
customer is told how to get a new one. No one has to remember to check.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.accounts import AccountActivities, ExpiryResult, InitialPasswordRef
    from activities.mail import MailActivities, MailRequest
    from workflows.waiting import wait_until

ACTIVITY_TIMEOUT = timedelta(minutes=2)


@dataclass
class InitialPasswordInput:
    customer_id: int
    password_version: int
    expires_at: str  # ISO-8601 UTC; fixed when the password was issued
    language: str = "ja"


def workflow_id(customer_id: int, password_version: int) -> str:
    return f"initial-password-{customer_id}-v{password_version}"


@workflow.defn
class InitialPasswordExpiry:
    def __init__(self) -> None:
        self._changed = False

    @workflow.signal
    def password_changed(self) -> None:
        """The customer set a password of their own: nothing left to expire."""
        self._changed = True

    @workflow.run
    async def run(self, inp: InitialPasswordInput) -> bool:
        # 1. Wait until the expiry time, unless the password is changed first.
        if await wait_until(lambda: self._changed, datetime.fromisoformat(inp.expires_at)):
            return False

        # 2. Invalidate it, if it is still that initial password.
        ref = InitialPasswordRef(inp.customer_id, inp.password_version)
        result: ExpiryResult = await workflow.execute_activity_method(
            AccountActivities.expire_initial_password, ref, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        if not result.expired:
            return False

        # 3. Tell the customer how to get a new one.
        await workflow.execute_activity_method(
            MailActivities.send_email,
            MailRequest(
                business_key=f"initial-password-expired:{inp.customer_id}:{inp.password_version}",
                recipient=result.email,
                template="initial_password_expired",
                language=inp.language,
                context={"organization": result.organization, "access_key": result.access_key,
                         "expired_on": result.expired_on},
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        return True
