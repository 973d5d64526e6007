"""Devices (L-4): an added device's registration, and a deleted device's revocation.

The registration is L-1's ``LoginCertRegistration``, told to mail the one-time password to the
device's email; the revocation is the login certificates' own (``login_certificates.revoke``).
"""

from collections.abc import Callable

from processes.client import Processes
from processes.login_certificates import _terms, revoke
from workflows.login_registration import LoginCertRegistration, RegistrationInput

__all__ = ["device_workflow_id", "revoke_device_certificate", "start_device_registration"]

REMOVAL_REASON = "cessationOfOperation"  # RFC 5280: the device no longer uses it


def device_workflow_id(public_id: str) -> str:
    """Apart from the tenant's invitations (``login-registration-{tenant}-{user}-after-…``): a new
    invitation by the website does not replace a device's registration."""
    return f"login-device-registration-{public_id}"


async def start_device_registration(processes: Processes, enrollment_id: int, public_id: str,
                                    rollback: Callable[[], None]) -> bool:
    settings = processes.settings
    return await processes.start(
        LoginCertRegistration.run,
        RegistrationInput(enrollment_id, settings.otp_ttl.total_seconds(), settings.otp_max_attempts,
                          _terms(settings), invite_by_mail=True),
        id=device_workflow_id(public_id), rollback=rollback, once=True)


async def revoke_device_certificate(processes: Processes, serial: str, actor: str) -> bool:
    """At once; False when it was revoked already."""
    return await revoke(processes, serial, REMOVAL_REASON, actor)
