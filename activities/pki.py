"""PKI activities: thin wrappers over the CA store, each idempotent on its business key."""

from dataclasses import dataclass

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from ca import authority
from domain.pki import hierarchy
from domain.pki.errors import CsrError, LintError
from domain.pki.profiles import EvSubject, OrganisationSubject


@dataclass
class ServerSubject:
    country: str
    organisation: str
    state: str | None = None
    locality: str | None = None
    # EV only
    business_category: str | None = None
    jurisdiction_country: str | None = None
    registration_number: str | None = None

    def to_domain(self) -> OrganisationSubject:
        if self.jurisdiction_country or self.registration_number:
            return EvSubject(self.country, self.organisation, self.state, self.locality,
                             self.business_category or "Private Organization",
                             self.jurisdiction_country or "", self.registration_number or "")
        return OrganisationSubject(self.country, self.organisation, self.state, self.locality)


@dataclass
class IssueServerRequest:
    request_key: str  # the workflow's business id: one certificate per key, ever
    csr_pem: str
    subject: ServerSubject
    catalog_days: int
    actor: str


@dataclass
class IssueLoginRequest:
    request_key: str
    certificate_name: str
    actor: str
    key_type: str = "ec"


@dataclass
class RevokeRequest:
    issuer: str
    serial: str
    reason: str  # RFC 5280 name: keyCompromise, superseded, cessationOfOperation, ...
    actor: str


class PkiActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="issue_server_certificate")
    def issue_server_certificate(self, req: IssueServerRequest) -> authority.IssuedCertificate:
        try:
            return authority.issue_server(self.ctx.engine, self.ctx.settings, req.request_key, req.csr_pem,
                                   req.subject.to_domain(), req.catalog_days, req.actor)
        except (CsrError, LintError, ValueError) as exc:
            # Policy refusals do not get better with retries.
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None

    @activity.defn(name="issue_login_certificate")
    def issue_login_certificate(self, req: IssueLoginRequest) -> authority.IssuedCertificate:
        try:
            return authority.issue_login(self.ctx.engine, self.ctx.settings, req.request_key, req.certificate_name,
                                  req.actor, req.key_type)
        except (LintError, ValueError) as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None

    @activity.defn(name="revoke_certificate")
    def revoke_certificate(self, req: RevokeRequest) -> bool:
        try:
            return authority.revoke(self.ctx.engine, self.ctx.settings, req.issuer, req.serial, req.reason, req.actor)
        except (LookupError, ValueError) as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None

    @activity.defn(name="publish_crls")
    def publish_crls(self) -> dict[str, int]:
        """A fresh CRL from every CA; the CRL numbers published."""
        return {issuer: authority.publish_crl(self.ctx.engine, self.ctx.settings, issuer) for issuer in hierarchy.CRL_ISSUERS}
