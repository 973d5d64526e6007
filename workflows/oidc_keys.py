"""OpenID Connect signing key rotation (issue 19): on a Temporal Schedule, like CRL publication.

Each run asks the activity to make a new ID token signing key when the current one has signed for
``domain.oidc.ROTATE_AFTER`` (or there is none), to retire the one before (it stays in the JWKS
until every token it signed has expired) and to drop retired keys past that. The run's time is the
workflow's, handed to the activity as its business key.
"""

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.oidc_keys import OidcKeyActivities, RotationInput

SCHEDULE_ID = "oidc-key-rotation"
INTERVAL = timedelta(days=1)  # checks daily; a key is replaced after domain.oidc.ROTATE_AFTER


@dataclass
class RotationResult:
    created: str | None
    dropped: list[str]
    active: str | None


@workflow.defn
class OidcKeyRotation:
    @workflow.run
    async def run(self) -> RotationResult:
        result = await workflow.execute_activity_method(
            OidcKeyActivities.rotate_oidc_keys,
            RotationInput(workflow.now().isoformat()),
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
        )
        return RotationResult(result.get("created"), list(result.get("dropped") or []), result.get("active"))
