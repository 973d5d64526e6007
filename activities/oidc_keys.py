"""The OpenID Connect signing key rotation's activity (workflows/oidc_keys.py).

The keys sign ID tokens in the web process, so they are kept in the database sealed under a key
derived from the passphrase (never with the CA's keys). Idempotent: the key id is the run's day.
"""

from dataclasses import dataclass
from datetime import datetime

from temporalio import activity

from activities.context import ActivityContext
from store import oidc
from store.db import session_scope
from store.passphrase import passphrase


@dataclass
class RotationInput:
    at: str  # the workflow's time, ISO 8601


class OidcKeyActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="rotate_oidc_keys")
    def rotate_oidc_keys(self, request: RotationInput) -> dict:
        secret = passphrase(self.ctx.settings)
        with session_scope(self.ctx.engine) as s:
            result = oidc.rotate_signing_keys(s, secret, datetime.fromisoformat(request.at))
        activity.logger.info("OpenID Connect keys: %s", result)
        return result
