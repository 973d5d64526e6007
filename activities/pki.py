"""The CA's own activity: republishing every CRL (the Schedule's CrlPublication calls it).

Issuance and revocation are the business processes' activities (applications, login
certificates), each idempotent on its own business key; they call ``ca.authority``.
"""

from temporalio import activity

from activities.context import ActivityContext
from ca import authority
from domain.pki.hierarchy import CRL_ISSUERS


class PkiActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="publish_crls")
    def publish_crls(self) -> dict[str, int]:
        """A fresh CRL from every CA; the CRL numbers published."""
        return {issuer: authority.publish_crl(self.ctx.engine, self.ctx.settings, issuer) for issuer in CRL_ISSUERS}
