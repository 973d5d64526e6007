"""Tables. Later processes add their own; every change ships with an Alembic migration."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, LargeBinary, Text, TypeDecorator, UniqueConstraint, event, select
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores UTC; always hands back an aware datetime (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ts(nullable: bool = True, index: bool = False, **kw: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index), **kw)


class Tenant(SQLModel, table=True):
    """A relying website of the login certificate service."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    # API keys are 256-bit random; a fast digest is enough to store them (unlike passwords).
    api_key_id: str = Field(max_length=32, unique=True, index=True)
    api_key_digest: str = Field(max_length=64)
    created_at: datetime = ts(nullable=False, default_factory=utcnow)
    # The contract (L-4, L-5): devices a user may hold, and the login methods users may choose
    # (comma-separated, domain/login_methods.py).
    max_devices: int = Field(default=3)
    login_methods: str = Field(default="certificate", max_length=100)


class Customer(SQLModel, table=True):
    """A company ordering server certificates; logs in with an 8-digit access key."""

    id: int | None = Field(default=None, primary_key=True)
    access_key: str = Field(max_length=8, unique=True, index=True)
    organization: str = Field(max_length=200)
    email: str = Field(max_length=254)
    password_hash: str = Field(max_length=200)
    # An initial password (new account or reset) must be changed and expires.
    password_is_initial: bool = True
    password_version: int = 1
    password_expires_at: datetime | None = ts()
    password_expired: bool = False
    # The login certificate bound as a second factor (lowercase hex serial from login-ca).
    client_cert_serial: str | None = Field(default=None, max_length=64)
    created_at: datetime = ts(nullable=False, default_factory=utcnow)


class CustomerSession(SQLModel, table=True):
    """A customer login (S-1): browser cookie or API bearer token; only a digest is stored."""

    __tablename__ = "customer_session"

    token_digest: str = Field(primary_key=True, max_length=64)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = ts(nullable=False, default_factory=utcnow)
    last_seen_at: datetime = ts(nullable=False, default_factory=utcnow)
    expires_at: datetime = ts(nullable=False)


class CustomerProfile(SQLModel, table=True):
    """Saved account info (S-9): prefills applications. Shapes are validated in domain/profile.py."""

    __tablename__ = "customer_profile"

    customer_id: int = Field(primary_key=True, foreign_key="customer.id")
    reseller_code: str = Field(default="", max_length=40)
    organization: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    contacts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # 更新のご案内メール (account info): the contract's reminders go out only while this is on.
    renewal_notices: bool = Field(default=True)
    updated_at: datetime = ts(nullable=False, default_factory=utcnow)


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    role: str = Field(max_length=20)
    email: str | None = Field(default=None, max_length=254)  # reminders and escalations
    password_hash: str = Field(max_length=200)
    created_at: datetime = ts(nullable=False, default_factory=utcnow)


class StaffSession(SQLModel, table=True):
    """A staff login: browser cookie or API bearer token. Only a digest of the token is stored."""

    __tablename__ = "staff_session"

    token_digest: str = Field(primary_key=True, max_length=64)
    staff_id: int = Field(foreign_key="staff_user.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = ts(nullable=False, default_factory=utcnow)
    last_seen_at: datetime = ts(nullable=False, default_factory=utcnow)
    expires_at: datetime = ts(nullable=False)


class LoginThrottle(SQLModel, table=True):
    """Failed guesses counted for a name or a client address (``domain.throttle``), in the database
    so that every API process sees the same counts. ``version`` makes each update a compare-and-set."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=120)
    failures: int = 0
    started_at: datetime = ts(nullable=False)
    last_failure_at: datetime = ts(nullable=False, index=True)
    locked_until: datetime | None = ts(index=True)
    version: int = 1


class Task(SQLModel, table=True):
    """A human step of some workflow (T-1). The owning workflow decides; this row is what staff see."""

    id: int | None = Field(default=None, primary_key=True)
    # The workflow's own key for this step, so a retried open_task finds the row it made.
    task_key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=40, index=True)
    title: str = Field(max_length=300)
    subject: str = Field(max_length=200, index=True)  # e.g. customer:12, application:A-1, certificate:ab12
    facts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    workflow_id: str = Field(max_length=200, index=True)
    state: str = Field(default="open", max_length=10, index=True)  # open | claimed | done
    assignee: str | None = Field(default=None, max_length=64, index=True)
    due_at: datetime = ts(nullable=False, index=True)
    remind_at: datetime | None = ts()
    reminded_at: datetime | None = ts()
    escalated_at: datetime | None = ts()
    outcome: str | None = Field(default=None, max_length=40)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    completed_by: str | None = Field(default=None, max_length=64)
    completed_at: datetime | None = ts()
    created_at: datetime = ts(nullable=False, default_factory=utcnow)


class SentEmail(SQLModel, table=True):
    """One row per business event mailed: the key makes a retried activity send once."""

    __tablename__ = "sent_email"
    __table_args__ = (UniqueConstraint("business_key"),)

    id: int | None = Field(default=None, primary_key=True)
    business_key: str = Field(max_length=200)
    recipient: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    template: str = Field(max_length=100)
    state: str = Field(default="sending", max_length=20)  # sending -> sent
    sent_at: datetime | None = ts()
    created_at: datetime = ts(nullable=False, default_factory=utcnow)


class AuditEvent(SQLModel, table=True):
    """Every state change: who (person, customer, tenant or ``timer``), what, when. Never secrets."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = ts(nullable=False, default_factory=utcnow, index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=100, index=True)
    subject: str = Field(max_length=200, index=True)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CaRecord(SQLModel, table=True):
    """A CA or OCSP responder of the hierarchy. Only a responder keeps its (encrypted) key here."""

    __tablename__ = "ca"

    name: str = Field(primary_key=True, max_length=32)
    cert_pem: str = Field(sa_column=Column(Text, nullable=False))
    # Responders only; the signing CAs' keys are in the key store (CERTDESK_CA_KEY_DIR).
    key_pem: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = ts(nullable=False, default_factory=utcnow)


class CertificateRecord(SQLModel, table=True):
    """Every end-entity certificate. The serial is reserved (state ``reserved``) before signing,
    and ``request_key`` (the workflow's business id) makes a retried issuance return this row."""

    __tablename__ = "certificate"
    __table_args__ = (UniqueConstraint("request_key"), UniqueConstraint("issuer", "serial"))

    id: int | None = Field(default=None, primary_key=True)
    serial: str = Field(max_length=64, index=True)  # lowercase hex, no leading zeros
    issuer: str = Field(max_length=32)
    request_key: str = Field(max_length=200)
    kind: str = Field(max_length=10)  # server | login
    product: str = Field(default="", max_length=20)  # ov | ev | login
    display_name: str = Field(max_length=255)  # first SAN, or the login certificate's CN
    names: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="reserved", max_length=10)  # reserved -> issued -> revoked
    not_before: datetime | None = ts()
    not_after: datetime | None = ts(index=True)
    der: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    # Login certificates only: the server-generated key, CA-passphrase encrypted, until downloaded.
    private_key_pem: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    revoked_at: datetime | None = ts()
    revocation_reason: str | None = Field(default=None, max_length=30)
    revoked_by: str | None = Field(default=None, max_length=100)
    created_at: datetime = ts(nullable=False, default_factory=utcnow)


class CrlRecord(SQLModel, table=True):
    __tablename__ = "crl"
    __table_args__ = (UniqueConstraint("issuer", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    issuer: str = Field(max_length=32, index=True)
    number: int
    this_update: datetime = ts(nullable=False)
    next_update: datetime = ts(nullable=False)
    entries: int = 0
    der: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class OcspResponseRecord(SQLModel, table=True):
    """Signed OCSP responses reused until ``refresh_after``; dropped when the status changes."""

    __tablename__ = "ocsp_response"

    issuer: str = Field(primary_key=True, max_length=32)
    serial: str = Field(primary_key=True, max_length=64)
    status: str = Field(max_length=10)
    der: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    produced_at: datetime = ts(nullable=False)
    refresh_after: datetime = ts(nullable=False)


LIST_COLUMNS = ["id", "line_id", "type", "product", "status", "issued_at", "downloaded_at", "created_at",
                "updated_at"]
SEARCH_TEXT_COLUMNS = ["search_organization", "search_names", "coupon"]  # 絞込条件 「含む」, in the index too
SEARCH_ORGANIZATION, SEARCH_NAMES = 200, 1000


class Application(SQLModel, table=True):
    """One record per application (S-2, S-10): new, renewal, reissue, contact change, revocation."""

    # お申込一覧 and its 検索 (store/application_search.py): a customer's records by date, either date.
    # PostgreSQL reads a page and its count from the index alone (the INCLUDE columns are what the
    # list filters and shows; a customer's rows lie scattered over the table).
    __table_args__ = (Index("ix_application_customer_created", "customer_id", "created_at",
                            postgresql_include=LIST_COLUMNS + SEARCH_TEXT_COLUMNS),
                      Index("ix_application_customer_updated", "customer_id", "updated_at",
                            postgresql_include=LIST_COLUMNS),
                      # the list's other △ sorts: a page is the first rows of one of these
                      Index("ix_application_customer_status", "customer_id", "status", "id"),
                      Index("ix_application_customer_type", "customer_id", "type", "id"),
                      Index("ix_application_customer_product", "customer_id", "product", "id"),
                      Index("ix_application_customer_issued", "customer_id", "issued_at", "id"))

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    type: str = Field(max_length=20)  # new | reissue | renewal | contact_change
    product: str = Field(max_length=20)
    # received -> documents_pending ("!") -> received ... -> issued (完了) | rejected | cancelled
    status: str = Field(default="received", max_length=20, index=True)
    csr_pem: str = Field(sa_column=Column(Text, nullable=False))
    names: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    organization: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    contacts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    coupon: str | None = Field(default=None, max_length=40)
    # サーバタイプ (domain/server_types.py); "" when not given
    server_type: str = Field(default="", max_length=40, sa_column_kwargs={"server_default": ""})
    contract_code: str | None = Field(default=None, max_length=20, unique=True)
    certificate_serial: str | None = Field(default=None, max_length=64)
    parent_id: int | None = Field(default=None, foreign_key="application.id")
    # Revocations: the customer's reason (content_change | switching | cessation | key_compromise).
    # Reissues: what happens to the previous certificate (immediately | after_two_weeks), and when.
    reason: str | None = Field(default=None, max_length=30)
    revoke_previous_at: datetime | None = ts()
    workflow_id: str = Field(default="", max_length=200)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # why rejected / what documents
    created_at: datetime = ts(nullable=False, default_factory=utcnow, index=True)
    issued_at: datetime | None = ts()
    # The first record of the record's line (the new application whose contract it belongs to); None
    # for that first record itself. Set from the parent on insert (below), so a list joins the
    # line's contract in one step instead of walking parents.
    line_id: int | None = Field(default=None)
    downloaded_at: datetime | None = ts()  # the certificate's first download (a search filter)
    # 絞込条件's texts, lower-cased (set on insert and update, below): the organization's name and the
    # certificate's names, so that a search reads them from the list's index, not the scattered rows.
    search_organization: str = Field(default="", max_length=SEARCH_ORGANIZATION)
    search_names: str = Field(default="", max_length=SEARCH_NAMES)
    # 更新日: any change to the row (a status, a download) moves it.
    updated_at: datetime | None = Field(default_factory=utcnow,
                                        sa_column=Column(UTCDateTime(), nullable=True, onupdate=utcnow))


def search_texts(organization: dict[str, Any], names: list[str]) -> tuple[str, str]:
    """What 絞込条件 matches: the organization's name and the names, lower-cased, cut to the columns'
    lengths (a certificate with more names than fit is found by its first ones)."""
    return (str(organization.get("name") or "").lower()[:SEARCH_ORGANIZATION],
            " ".join(str(n) for n in names).lower()[:SEARCH_NAMES])


@event.listens_for(Application, "before_update")
def _search_texts_on_update(mapper: Any, connection: Any, target: Application) -> None:
    target.search_organization, target.search_names = search_texts(target.organization or {}, target.names or [])


@event.listens_for(Application, "before_insert")
def _line_of_parent(mapper: Any, connection: Any, target: Application) -> None:
    target.search_organization, target.search_names = search_texts(target.organization or {}, target.names or [])
    if target.parent_id is not None and target.line_id is None:
        table = Application.__table__  # type: ignore[attr-defined]
        row = connection.execute(select(table.c.line_id, table.c.id).where(table.c.id == target.parent_id)).first()
        if row is not None:
            target.line_id = row[0] if row[0] is not None else row[1]


class Contract(SQLModel, table=True):
    """A contract (契約コード, S-3, S-5): established by the first certificate of a new application, it
    lives for terms of years while certificates inside it are replaced. The ``Contract`` workflow
    decides; this row mirrors it for pages, the desk and the workflow's own look-ups."""

    # お申込一覧 joins each record to its line's contract (store/application_search.py).
    __table_args__ = (Index("ix_contract_customer_application", "customer_id", "application_id",
                            postgresql_include=["state", "code"]),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=20, unique=True, index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    product: str = Field(max_length=20)
    contract_type: str = Field(max_length=10)  # fixed (期間固定タイプ) | auto (自動契約更新タイプ)
    term_months: int = Field(default=12)
    term_start: datetime = ts(nullable=False)
    term_end: datetime = ts(nullable=False, index=True)
    terms: int = Field(default=1)  # which term this is (1 = the first)
    state: str = Field(default="active", max_length=10, index=True)  # active | ending | ended | cancelled
    application_id: int = Field(foreign_key="application.id")  # the record that established it
    current_application_id: int = Field(foreign_key="application.id")  # whose certificate is in use
    certificate_serial: str = Field(max_length=64)
    certificate_not_before: datetime = ts(nullable=False)
    certificate_not_after: datetime = ts(nullable=False, index=True)
    contacts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    reseller_code: str = Field(default="", max_length=40)
    end_requested_at: datetime | None = ts()  # 解約 filed
    ended_at: datetime | None = ts()
    workflow_id: str = Field(default="", max_length=200)
    created_at: datetime = ts(nullable=False, default_factory=utcnow)
    updated_at: datetime = ts(nullable=False, default_factory=utcnow)
    # The Web ステッカー's public id (/seal/{seal_id}): random, made at the first look (store/seals.py).
    seal_id: str | None = Field(default=None, max_length=32, unique=True, index=True)


class LoginUser(SQLModel, table=True):
    """An end user of a tenant's website who holds (or is getting) a login certificate (L-1)."""

    __tablename__ = "login_user"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    user_id: str = Field(max_length=64)  # the tenant's own id for the user
    email: str = Field(max_length=254)
    certificate_name: str = Field(max_length=64)  # the CN, shown when logging in
    language: str = Field(default="ja", max_length=2)
    question_id: str | None = Field(default=None, max_length=40)
    answer_hash: str | None = Field(default=None, max_length=200)  # argon2id of the normalised answer
    certificate_serial: str | None = Field(default=None, max_length=64, index=True)  # the one in use
    login_method: str = Field(default="certificate", max_length=20)  # L-5: domain.login_methods.METHODS
    created_at: datetime = ts(nullable=False, default_factory=utcnow)
    updated_at: datetime = ts(nullable=False, default_factory=utcnow)


class LoginTotp(SQLModel, table=True):
    """A login user's authenticator app (L-5): the TOTP secret sealed (``domain.totp.seal``), never plain.

    ``pending_sealed`` is a secret being enrolled (shown as a QR code, not yet confirmed by a first
    code); ``secret_sealed`` the confirmed one logins check. ``last_step`` is the last accepted
    time-step (a code is accepted once, RFC 6238 §5.2); ``failures`` counts wrong codes since the
    last right one and ``locked_at`` is set when they reach the limit.
    """

    __tablename__ = "login_totp"

    login_user_id: int = Field(foreign_key="login_user.id", primary_key=True)
    secret_sealed: str | None = Field(default=None, max_length=200)
    pending_sealed: str | None = Field(default=None, max_length=200)
    confirmed_at: datetime | None = ts()
    last_step: int | None = Field(default=None)
    failures: int = Field(default=0)
    locked_at: datetime | None = ts()
    updated_at: datetime = ts(nullable=False, default_factory=utcnow)


class Enrollment(SQLModel, table=True):
    """One registration (kind ``registration``) or reissue (``reissue``) and its download.

    The workflow decides; this row mirrors its state for lists and lookups. Secrets are
    stored only as hashes (``domain.secret_hashing``: keyed, or argon2id before issue 18); the
    link token is a MAC over ``public_id``.
    """

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(max_length=40, unique=True, index=True)
    kind: str = Field(max_length=20)  # registration | reissue
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    user_id: str = Field(max_length=64, index=True)
    email: str = Field(max_length=254)
    certificate_name: str = Field(max_length=64)
    language: str = Field(default="ja", max_length=2)
    login_user_id: int | None = Field(default=None, foreign_key="login_user.id", index=True)
    state: str = Field(default="otp", max_length=20, index=True)
    otp_hash: str | None = Field(default=None, max_length=200)
    # SHA-256 of the random value in the browser's step cookie, given when the OTP was right:
    # the secret-question step must come from the one who entered the OTP.
    step_hash: str | None = Field(default=None, max_length=64)
    expires_at: datetime = ts(nullable=False)  # the OTP (or reissue link) deadline
    download_password_hash: str | None = Field(default=None, max_length=200)
    download_expires_at: datetime | None = ts()
    certificate_serial: str | None = Field(default=None, max_length=64)  # the new certificate
    previous_serial: str | None = Field(default=None, max_length=64)  # reissue: the one it replaces
    revoke_old: str | None = Field(default=None, max_length=20)  # reissue: on_download | immediately
    workflow_id: str = Field(default="", max_length=200)
    created_at: datetime = ts(nullable=False, default_factory=utcnow)
    updated_at: datetime = ts(nullable=False, default_factory=utcnow)


class EnrollmentDraft(SQLModel, table=True):
    """Hashes prepared by the API for a secret-question step, named to the workflow by id.

    The workflow accepts one draft (the first complete step wins); only then are its hashes
    copied onto the user and the enrollment. Keeps even hashes out of workflow histories.
    """

    __tablename__ = "enrollment_draft"

    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True)
    question_id: str | None = Field(default=None, max_length=40)
    answer_hash: str | None = Field(default=None, max_length=200)
    download_password_hash: str = Field(max_length=200)
    created_at: datetime = ts(nullable=False, default_factory=utcnow)


class SealedAnswer(SQLModel, table=True):
    """A download password a person was shown once, sealed under their browser's step cookie
    (domain/answer_seal.py) so a retry from that browser gets it again. Gone at the download, when
    the delivery ends, or when its window closes (the workflow's timer)."""

    __tablename__ = "sealed_answer"

    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True)
    step: str = Field(max_length=20)  # secret | answer
    sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    expires_at: datetime = ts(nullable=False, index=True)
    created_at: datetime = ts(nullable=False, default_factory=utcnow)


class LoginEvent(SQLModel, table=True):
    """A login to the account pages with a login certificate (L-2 login history)."""

    __tablename__ = "login_event"

    id: int | None = Field(default=None, primary_key=True)
    login_user_id: int = Field(foreign_key="login_user.id", index=True)
    certificate_serial: str = Field(max_length=64)
    at: datetime = ts(nullable=False, default_factory=utcnow, index=True)
    address: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)
    # The OpenID Connect client (a tenant's website) this login was for; None: the account pages.
    oidc_client_id: int | None = Field(default=None, foreign_key="oidc_client.id")


class EndUserSession(SQLModel, table=True):
    """An account-pages session of a login certificate holder; ends on logout."""

    __tablename__ = "end_user_session"

    token_digest: str = Field(primary_key=True, max_length=64)
    login_user_id: int = Field(foreign_key="login_user.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = ts(nullable=False, default_factory=utcnow)
    last_seen_at: datetime = ts(nullable=False, default_factory=utcnow)
    expires_at: datetime = ts(nullable=False)


class DomainValidation(SQLModel, table=True):
    """One name's domain control validation (BR 3.2.2.4): the Random Value, the method, the evidence.

    A validated row is reused for the same customer's later applications while BR 4.2.1 allows.
    """

    __tablename__ = "domain_validation"
    __table_args__ = (UniqueConstraint("application_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    application_id: int | None = Field(default=None, foreign_key="application.id", index=True)
    name: str = Field(max_length=253)  # as in the certificate: www.example.co.jp or *.example.co.jp
    validated_domain: str = Field(max_length=253, index=True)  # the Authorization Domain Name checked
    method: str = Field(default="dns_change", max_length=30)  # domain.vetting.dcv.Method
    # Public once the customer places it in DNS or on the website; never reused across requests.
    random_value: str = Field(max_length=128)
    state: str = Field(default="pending", max_length=20, index=True)  # pending | validated | expired
    created_at: datetime = ts(nullable=False, default_factory=utcnow)
    expires_at: datetime = ts(nullable=False)  # the Random Value's end (BR 3.2.2.4.7: 30 days)
    validated_at: datetime | None = ts()
    checked_at: datetime | None = ts()
    last_result: str | None = Field(default=None, max_length=40)  # the last check's reason code
    # CAA (BR 3.2.2.8), looked at from every perspective right before signing.
    caa_checked_at: datetime | None = ts()
    caa_permitted: bool | None = None
    caa_result: str | None = Field(default=None, max_length=200)
    # Per check: method, value hash, where looked, what each perspective saw, when, which process.
    evidence: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Constructed email (BR 3.2.2.4.4): the address the customer chose; each choice is a new generation
    # (a new mail, a new link). Only the link token's SHA-256 is kept; wrong values entered there count.
    email_address: str | None = Field(default=None, max_length=254)
    email_generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    email_token_hash: str | None = Field(default=None, max_length=64, unique=True, index=True)
    email_sent_at: datetime | None = ts()
    email_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class VettingCheck(SQLModel, table=True):
    """A check the vetting desk recorded for an application (S-2 審査; BR 3.2.2.1, 3.2.5; EVG 11).

    Organization identity, the verified phone callback and the EV checks. A confirmed check is
    reused for the same customer's later application of the same, unchanged organization while
    BR 4.2.1 allows (``organization`` keeps the facts it confirmed, to tell "unchanged").
    """

    __tablename__ = "vetting_check"

    id: int | None = Field(default=None, primary_key=True)
    check_key: str = Field(max_length=200, unique=True)  # the workflow update's id: a retry records once
    customer_id: int = Field(foreign_key="customer.id", index=True)
    application_id: int = Field(foreign_key="application.id", index=True)
    check: str = Field(max_length=40)  # domain.vetting.checks.CHECKS
    source: str = Field(max_length=40)  # where it was verified (domain.vetting.checks.SOURCES)
    reference: str = Field(default="", max_length=200)  # registry reference, document numbers, number called
    outcome: str = Field(max_length=20)  # confirmed | not_confirmed
    note: str = Field(default="", sa_column=Column(Text, nullable=False))
    organization: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    checked_by: str = Field(max_length=80)
    checked_at: datetime = ts(nullable=False, default_factory=utcnow)


class Coupon(SQLModel, table=True):
    """A coupon the customer bought (クーポン管理): issued by staff, used by at most one application.

    ``application_id`` is set once, when an application that names the coupon is received; a
    record that is discarded because its process never started gives the coupon back.
    """

    __tablename__ = "coupon"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)  # クーポン番号, what the application stores
    customer_id: int = Field(foreign_key="customer.id", index=True)
    description: str = Field(default="", max_length=200)  # what it gives (割引内容)
    valid_from: datetime = ts(nullable=False)
    valid_until: datetime = ts(nullable=False)
    application_id: int | None = Field(default=None, foreign_key="application.id", unique=True)
    used_at: datetime | None = ts()
    issued_by: str = Field(max_length=80)
    created_at: datetime = ts(nullable=False, default_factory=utcnow)


class Device(SQLModel, table=True):
    """A login user's device (端末, L-4): its own email, type and certificate.

    The user's first certificate is their first device; a device the user adds gets its
    certificate through its own registration (``enrollment_id``), so each device holds its own
    key. ``removed_at`` set: deleted, its certificate revoked.
    """

    __tablename__ = "device"

    id: int | None = Field(default=None, primary_key=True)
    login_user_id: int = Field(foreign_key="login_user.id", index=True)
    email: str = Field(max_length=254)
    device_type: str = Field(max_length=20)  # domain/devices.py DEVICE_TYPES
    certificate_serial: str | None = Field(default=None, max_length=64, index=True)
    enrollment_id: int | None = Field(default=None, foreign_key="enrollment.id", index=True)
    created_at: datetime = ts(nullable=False, default_factory=utcnow)
    updated_at: datetime = ts(nullable=False, default_factory=utcnow)
    last_login_at: datetime | None = ts()
    removed_at: datetime | None = ts()


# --- OpenID Connect provider (issue 19) ---
class OidcClient(SQLModel, table=True):
    """A tenant's website that logs its users in through certdesk (an OpenID Connect relying party)."""

    __tablename__ = "oidc_client"

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=64, unique=True, index=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    name: str = Field(default="", max_length=200)
    auth_method: str = Field(max_length=40)  # client_secret_basic | client_secret_post | private_key_jwt
    secret_digest: str | None = Field(default=None, max_length=64)  # SHA-256 of a 256-bit random secret
    jwks: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))  # private_key_jwt
    redirect_uris: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    scopes: str = Field(default="openid", max_length=200)  # allowed, space-separated
    created_at: datetime = ts(nullable=False, default_factory=utcnow)


class OidcSigningKey(SQLModel, table=True):
    """An ID token signing key (not a CA key): the private key sealed under a key derived from the
    passphrase. The newest unretired key signs; a retired one stays in the JWKS until ``drop_after``."""

    __tablename__ = "oidc_signing_key"

    id: int | None = Field(default=None, primary_key=True)
    kid: str = Field(max_length=64, unique=True)  # also the rotation's business key
    alg: str = Field(max_length=10)
    sealed_private_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    public_jwk: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = ts(nullable=False)
    retired_at: datetime | None = ts()
    drop_after: datetime | None = ts()


class OidcCode(SQLModel, table=True):
    """An authorization code (stored as a digest), used at most once."""

    __tablename__ = "oidc_code"

    id: int | None = Field(default=None, primary_key=True)
    code_digest: str = Field(max_length=64, unique=True)
    client_id: int = Field(foreign_key="oidc_client.id", index=True)
    login_user_id: int = Field(foreign_key="login_user.id", index=True)
    redirect_uri: str = Field(sa_column=Column(Text, nullable=False))
    scope: str = Field(max_length=200)
    nonce: str | None = Field(default=None, max_length=255)
    code_challenge: str = Field(max_length=128)
    code_challenge_method: str = Field(max_length=10)
    auth_time: datetime = ts(nullable=False)
    amr: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    acr: str = Field(max_length=100)
    expires_at: datetime = ts(nullable=False)
    used_at: datetime | None = ts()


class OidcToken(SQLModel, table=True):
    """An access token (stored as a digest) for userinfo; revocable."""

    __tablename__ = "oidc_token"

    id: int | None = Field(default=None, primary_key=True)
    token_digest: str = Field(max_length=64, unique=True)
    client_id: int = Field(foreign_key="oidc_client.id", index=True)
    login_user_id: int = Field(foreign_key="login_user.id", index=True)
    code_id: int | None = Field(default=None, foreign_key="oidc_code.id", index=True)
    scope: str = Field(max_length=200)
    issued_at: datetime = ts(nullable=False, default_factory=utcnow)
    expires_at: datetime = ts(nullable=False)
    revoked_at: datetime | None = ts()


class OidcConsent(SQLModel, table=True):
    """A user's consent to give a tenant's websites the scopes named (asked the first time per tenant)."""

    __tablename__ = "oidc_consent"
    __table_args__ = (UniqueConstraint("login_user_id", "tenant_id"),)

    id: int | None = Field(default=None, primary_key=True)
    login_user_id: int = Field(foreign_key="login_user.id", index=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    scopes: str = Field(max_length=200)
    at: datetime = ts(nullable=False, default_factory=utcnow)


class OidcAssertion(SQLModel, table=True):
    """A private_key_jwt client assertion's ``jti``, so that each assertion is used once (OIDC Core 9)."""

    __tablename__ = "oidc_assertion"

    id: int | None = Field(default=None, primary_key=True)
    jti_digest: str = Field(max_length=64, unique=True)  # of client id and jti
    expires_at: datetime = ts(nullable=False, index=True)
# --- end OpenID Connect provider ---
