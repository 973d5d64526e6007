"""Configuration: every knob is a ``CERTDESK_`` environment variable (see README)."""

from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.business_calendar import CalendarSpec
from domain.durations import parse_duration

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

ENV_PREFIX = "CERTDESK_"
TASK_QUEUE = "certdesk"
# Custom search attributes registered on the embedded server (and by compose in production).
SEARCH_ATTRIBUTES = ("CertdeskSubject", "CertdeskCustomer", "CertdeskStatus")


class SettingsError(ValueError):
    """A configuration value that does not parse; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    data_dir: Path = Path("./var")
    database_url: str | None = None
    temporal_address: str | None = None
    temporal_port: int = Field(7233, ge=1, le=64535)
    temporal_namespace: str = "default"
    task_queue: str = TASK_QUEUE
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    tls_port: int = Field(8443, ge=1, le=65535)
    public_url: str | None = None
    # Where browsers reach the account pages with a login certificate (the OpenID Connect authorization
    # endpoint is there); unset: https://CERTDESK_API_HOST:CERTDESK_TLS_PORT (certdesk up's own port).
    account_public_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(1025, ge=1, le=65535)
    mail_from: str = "certdesk@localhost"
    ca_passphrase: SecretStr | None = None
    # Private keys of the roots and issuing CAs: files here, read by the worker only (the web
    # process never needs them). Mount it into the worker alone.
    ca_key_dir: Path | None = None
    # Or keep those keys on a PKCS#11 token (an HSM; SoftHSM2 to try it): generated there, never
    # extractable, signing done by the token. The module is the vendor's .so, the token its label.
    ca_keystore: str = Field("file", pattern="^(file|pkcs11)$")
    pkcs11_module: Path | None = None
    pkcs11_token: str | None = None
    pkcs11_pin: SecretStr | None = None
    language: str = Field("ja", pattern="^(ja|en)$")
    timezone: str = "Asia/Tokyo"
    business_closure: str = Field("12-29/01-03", pattern=r"^(\d\d-\d\d/\d\d-\d\d)?$")
    business_hours: str = Field("09:00-18:00", pattern=r"^\d\d:\d\d-\d\d:\d\d$")
    support_email: str = "support@certdesk.example"
    # Second factor for customers (S-1): off | bound (accounts with a bound login certificate
    # must present it) | required (every account must). The TLS terminator verifies the
    # certificate and passes it URL-encoded in this header (nginx: $ssl_client_escaped_cert);
    # it must also strip the header from what clients send.
    customer_client_cert: str = Field("off", pattern="^(off|bound|required)$")
    client_cert_header: str = "X-SSL-Client-Cert"
    # Peers whose client_cert_header is believed: the TLS terminator(s) in front of the API and the
    # account app, comma-separated IP addresses or CIDR networks. Matched against the connection's
    # own peer address (never X-Forwarded-For). Empty: the header is never believed.
    trusted_proxies: str = ""
    temporal_ui_url: str | None = None  # for links from the desk; the embedded server's UI by default
    production: bool = False

    # Policies, with the seeds' values as defaults.
    otp_ttl: Duration = timedelta(days=3)
    otp_max_attempts: int = Field(5, ge=1)
    download_ttl: Duration = timedelta(days=14)
    download_max_attempts: int = Field(5, ge=1)
    # How long the browser that was shown a download password may ask for it again (a lost answer).
    answer_replay_window: Duration = timedelta(minutes=10)
    reissue_ttl: Duration = timedelta(days=3)  # how long a reissue link waits for the answer
    secret_answer_max_attempts: int = Field(5, ge=1)
    delayed_revocation: Duration = timedelta(days=14)
    reissue_window: Duration = timedelta(days=25)
    initial_password_ttl: Duration = timedelta(days=30)
    password_reset_business_days: int = Field(3, ge=1)
    # Wrong passwords in a row a name (access key, username) gets before its first lock: 15 minutes,
    # doubling up to an hour (domain/throttle.py), known name or not.
    login_max_failures: int = Field(5, ge=1)
    # 更新のご案内: days before a certificate expires inside its contract, and before a term ends.
    contract_reminders: str = Field("90,60,30,14,7,1", pattern=r"^[1-9][0-9]{0,3}(,[1-9][0-9]{0,3})*$")
    # 解約 of an automatic-renewal contract stops the next term only when filed this long before it.
    contract_cancel_cutoff_days: int = Field(30, ge=0, le=365)

    # Network lookups of domain validation (BR 3.2.2.4) and CAA (BR 3.2.2.8).
    # The resolver to ask, "host:port" (an IP address; port 53 when left out); unset: the
    # system's (/etc/resolv.conf). In production it must be a DNSSEC-validating resolver.
    dns_resolver: str | None = Field(None, pattern=r"^(\[[0-9A-Fa-f:.]+\]|[^:\s]+)(:\d{1,5})?$")
    dns_timeout: Duration = timedelta(seconds=5)
    # Port of the website-file method (BR 3.2.2.4.18): 80 in production; tests use a loopback port.
    dcv_http_port: int = Field(80, ge=1, le=65535)
    # Issuer domain names this CA recognises in CAA "issue"/"issuewild" records, comma-separated.
    caa_identities: str = "certdesk.example"
    # The label prepended to the domain for the DNS TXT method (BR 3.2.2.4.7: a Domain Label
    # beginning with an underscore).
    dcv_label: str = Field("_certdesk-challenge", pattern=r"^_[A-Za-z0-9_-]{1,62}$")
    # Remote network perspectives (BR 3.2.2.9) that every domain check is corroborated from: each
    # a worker polling the task queue ``perspective-<name>`` in its own network
    # (``python -m certdesk.perspective NAME``). Empty: `certdesk up` runs local ones (development).
    remote_perspectives: str = Field("", pattern=r"^[a-z0-9-]*(,[a-z0-9-]+)*$")
    # `certdesk up` only (never in production): the loopback port of the development DNS zone that
    # /dev/dns edits; 0 picks a free one. The website-file method's development server listens on
    # CERTDESK_DCV_HTTP_PORT when that is set, else on a free port the setting is pointed at.
    dev_dns_port: int = Field(0, ge=0, le=65535)

    # OCSP answers from memory (store/ocsp_cache.py): how many pre-signed responses each web process
    # keeps (0: none), and how often it reads the revocation feed: 0 before every answer (a
    # revocation is served at once); N: at most every N ms (a revocation may be served N ms late).
    ocsp_cache_size: int = Field(100_000, ge=0)
    ocsp_cache_check_ms: int = Field(0, ge=0, le=60_000)
    # Prometheus metrics, each on its own "host:port" (never the public port; unset: not served):
    # the web app's (api/metrics.py) and the Temporal worker's SDK runtime (certdesk/worker.py).
    api_metrics_address: str | None = Field(None, pattern=r"^[^\s:]*:\d{1,5}$")
    worker_metrics_address: str | None = Field(None, pattern=r"^[^\s:]*:\d{1,5}$")
    # "json": one JSON line per request and per log record (certdesk/logging_json.py).
    log_format: str = Field("text", pattern="^(text|json)$")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        _networks(value)  # raises ValueError naming the bad entry
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return _networks(self.trusted_proxies)

    @property
    def contract_reminder_days(self) -> tuple[int, ...]:
        return tuple(sorted({int(d) for d in self.contract_reminders.split(",")}, reverse=True))

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'certdesk.db').resolve()}"

    @property
    def resolved_ca_key_dir(self) -> Path:
        return self.ca_key_dir or self.data_dir / "ca-keys"

    @property
    def resolved_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def embedded_temporal(self) -> bool:
        return self.temporal_address is None

    @property
    def temporal_ui_port(self) -> int:
        return self.temporal_port + 1000

    @property
    def resolved_temporal_ui_url(self) -> str | None:
        if self.temporal_ui_url:
            return self.temporal_ui_url.rstrip("/")
        return f"http://127.0.0.1:{self.temporal_ui_port}" if self.embedded_temporal else None

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://127.0.0.1:{self.api_port}").rstrip("/")

    @property
    def embedded_smtp(self) -> bool:
        return self.smtp_host is None

    @property
    def remote_perspective_names(self) -> tuple[str, ...]:
        return tuple(n for n in self.remote_perspectives.split(",") if n)

    @property
    def caa_identity_names(self) -> tuple[str, ...]:
        """``caa_identities`` as lower-case domain names, without blanks or a trailing dot."""
        names = (n.strip().rstrip(".").lower() for n in self.caa_identities.split(","))
        return tuple(dict.fromkeys(n for n in names if n))


def _networks(value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """"10.0.0.5, 172.28.0.0/16" -> its networks (an address is a /32 or /128)."""
    networks = []
    for entry in (e.strip() for e in value.split(",")):
        if entry:
            try:
                networks.append(ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"not an IP address or network: {entry!r}") from None
    return tuple(networks)


def calendar_spec(settings: Settings) -> CalendarSpec:
    return CalendarSpec(settings.timezone, settings.business_closure, settings.business_hours)


def load_settings(**overrides: object) -> Settings:
    """Read the environment; a value that does not parse names its variable."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(f"{ENV_PREFIX}{field.upper()}: {err['msg']}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None
    try:
        calendar_spec(settings).to_calendar()
    except ValueError as exc:
        raise SettingsError(f"invalid configuration: CERTDESK_TIMEZONE / CERTDESK_BUSINESS_CLOSURE / "
                            f"CERTDESK_BUSINESS_HOURS: {exc}") from None
    return settings
