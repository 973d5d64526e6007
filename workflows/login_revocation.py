"""Revocation of a login certificate at the website's request (L-3 API): at once, no human step.

A workflow, not a direct call, so the revocation is durable and audited like every other
state change, and its id (one per serial) makes a repeated request find the first.
"""

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.login_certificates import LoginCertActivities, LoginRevocation

ACTIVITY_TIMEOUT = timedelta(minutes=2)


@dataclass
class LoginRevocationInput:
    """What the website asked for; the same fields (and payload) as the activity's ``LoginRevocation``."""

    serial: str
    reason: str  # RFC 5280 name
    actor: str


@dataclass
class LoginRevocationResult:
    revoked: bool  # False: it was already revoked


def workflow_id(serial: str) -> str:
    return f"login-revocation-{serial}"


@workflow.defn
class LoginCertRevocation:
    @workflow.run
    async def run(self, req: LoginRevocationInput) -> LoginRevocationResult:
        revoked: bool = await workflow.execute_activity_method(
            LoginCertActivities.revoke_login_certificate, LoginRevocation(req.serial, req.reason, req.actor),
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        return LoginRevocationResult(revoked)
