"""Domain control validation (BR 3.2.2.4) as activities: the records, and a check from one perspective.

``PerspectiveActivities.check_domain_control`` runs in every network perspective — the primary
(the main worker) and each remote one (a worker polling ``perspective-<name>``, with its own
resolver) — and only looks: it returns what it saw (for constructed email, the ADN's MX set: the
look-up that method depends on, BR 3.2.2.9). ``DomainValidationActivities`` keeps the records:
prepares one per name of an application (reusing a validation still within BR 4.2.1), mails the
constructed-email challenge once per chosen address, and records each corroborated or failed
check as evidence, idempotent on the check's key.
"""

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import lookups
from activities.context import ActivityContext
from activities.mail import MailActivities, MailRequest
from domain.settings import Settings
from domain.vetting import caa, dcv
from domain.vetting.periods import random_value_days, validation_reusable
from store import audit
from store.db import session_scope
from store.models import Application, Customer, DomainValidation, SentEmail, utcnow
from store.vetting import token_hash

# What one perspective saw, kept in the evidence (trimmed: a TXT set or a web page may be long).
SEEN_LIMIT = 300


@dataclass
class CheckRequest:
    validation_id: int
    method: str  # domain.vetting.dcv.Method
    name: str  # the Authorization Domain Name (or, for the website method, the FQDN)
    random_value: str  # public: the customer puts it in DNS or on the website


@dataclass
class PerspectiveAnswer:
    perspective: str
    found: bool | None  # None: the perspective could not look (a failure, never a "no")
    where: str  # the DNS name or URL asked
    seen: str  # what was there, trimmed; or the failure's reason code


@dataclass
class PendingValidation:
    validation_id: int
    name: str  # as in the certificate
    method: str
    checked_name: str  # the Authorization Domain Name (website method: the FQDN)
    random_value: str
    expires_at: str  # ISO-8601: the Random Value's end
    email_address: str = ""  # constructed email: the address chosen (its domain is checked_name)
    email_generation: int = 0  # constructed email: which choice of address (each one its own mail)


@dataclass
class CheckOutcome:
    validation_id: int
    check_key: str  # unique per check (workflow id / run / round / validation): a retry records once
    passed: bool
    reason: str  # domain.vetting.mpic reason code, or the primary's failure
    answers: list[PerspectiveAnswer] = field(default_factory=list)
    workflow_id: str = ""
    email_address: str = ""  # constructed email: where the value was mailed
    value_entered_at: str = ""  # constructed email: when the recipient entered it (ISO-8601)


@dataclass
class EmailChallenge:
    """Mail the Random Value to the chosen address (BR 3.2.2.4.4), once per validation and choice."""

    validation_id: int
    address: str
    generation: int


# Link tokens: 32 bytes from the CSPRNG (256 bits), only their SHA-256 kept.
EMAIL_TOKEN_BYTES = 32
EMAIL_TEMPLATE = "dcv_constructed_email"


def _trim(text: str) -> str:
    return text if len(text) <= SEEN_LIMIT else text[:SEEN_LIMIT] + "…"


def look(settings: Settings, perspective: str, req: CheckRequest) -> PerspectiveAnswer:
    """One perspective's look at one name; what it saw, never a judgement beyond "is it there"."""
    method = dcv.Method(req.method)
    try:
        if method is dcv.Method.DNS_CHANGE:
            where = dcv.dns_record_name(req.name, settings.dcv_label)
            records = lookups.txt_records(where, settings.dns_resolver, settings.dns_timeout)
            return PerspectiveAnswer(perspective, dcv.txt_matches(records, req.random_value), where,
                                     _trim(" | ".join(records)) or "(no TXT record)")
        if method is dcv.Method.HTTP_FILE:
            path = dcv.WELL_KNOWN_PATH + dcv.validation_file_name(req.random_value)
            where = f"http://{req.name}:{settings.dcv_http_port}{path}"
            got = lookups.fetch_validation_file(req.name, path, settings.dcv_http_port, settings.dns_timeout,
                                                settings.dns_resolver)
            body = got.body.decode("utf-8", errors="replace")
            found = 200 <= got.status < 300 and dcv.file_matches(body, req.random_value)
            return PerspectiveAnswer(perspective, found, got.final_url or where, _trim(f"HTTP {got.status}: {body}"))
        if method is dcv.Method.CONSTRUCTED_EMAIL:
            return _look_mx(settings, perspective, req.name)
    except lookups.LookupFailed as failed:
        return PerspectiveAnswer(perspective, None, failed.name, failed.reason)
    raise ApplicationError(f"method {method} is not checked over the network", type="not_a_network_method",
                           non_retryable=True)


def _look_mx(settings: Settings, perspective: str, adn: str) -> PerspectiveAnswer:
    """Where mail for the ADN goes: its MX set, sorted (what remote perspectives must see too).

    No MX is RFC 5321 s. 5.1's implicit MX, the name itself, reached by its addresses (part of
    the answer); a null MX (RFC 7505) or no address at all means no mail can arrive: not found."""
    exchanges = lookups.mx_records(adn, settings.dns_resolver, settings.dns_timeout)
    if exchanges == [(0, ".")] or any(exchange == "." for _, exchange in exchanges):
        return PerspectiveAnswer(perspective, False, adn, "0 . (null MX)")
    if exchanges:
        return PerspectiveAnswer(perspective, True, adn,
                                 _trim(" | ".join(f"{pref} {exchange}" for pref, exchange in sorted(exchanges))))
    addresses = sorted(lookups.address_records(adn, settings.dns_resolver, settings.dns_timeout))
    if not addresses:
        return PerspectiveAnswer(perspective, False, adn, "(no MX, no address)")
    return PerspectiveAnswer(perspective, True, adn, _trim(f"(no MX) implicit MX {adn}.: {' '.join(addresses)}"))


@dataclass
class CaaRequest:
    names: list[str]  # as in the certificate (a wildcard's CAA is looked up at its base)
    # RFC 8657, for records naming us: each name's validation method label, and the applicant's account.
    methods: dict[str, str] = field(default_factory=dict)
    account_uri: str | None = None


@dataclass
class CaaAnswer:
    perspective: str
    decisions: dict[str, str]  # name -> CaaDecision reason, or "lookup_failed_<reason>" (never "no CAA")
    permitted: dict[str, bool | None]  # name -> permitted; None when the look-up failed


@dataclass
class CaaOutcome:
    application_id: int
    check_key: str
    results: dict[str, tuple[bool, str]]  # name -> (permitted, reason)
    answers: list[CaaAnswer] = field(default_factory=list)
    workflow_id: str = ""


def look_caa(settings: Settings, perspective: str, req: CaaRequest) -> CaaAnswer:
    """CAA for each name from one perspective (RFC 8659, BR 3.2.2.8); a failed look-up refuses."""
    decisions: dict[str, str] = {}
    permitted: dict[str, bool | None] = {}
    for name in req.names:
        try:
            records = caa.relevant_records(name, lambda n: lookups.caa_records(n, settings.dns_resolver,
                                                                             settings.dns_timeout))
        except lookups.LookupFailed as failed:
            decisions[name], permitted[name] = f"lookup_failed_{failed.reason}", None
            continue
        decision = caa.evaluate(records, settings.caa_identity_names, name.startswith("*."),
                                req.methods.get(name), req.account_uri)
        decisions[name] = decision.reason + (f": {_trim(decision.detail)}" if decision.detail else "")
        permitted[name] = decision.permitted
    return CaaAnswer(perspective, decisions, permitted)


class PerspectiveActivities:
    """The looks one network perspective makes; registered by the main worker (as the primary)
    and by each remote perspective worker, each with the settings (resolver) of its network."""

    def __init__(self, settings: Settings, perspective: str) -> None:
        self.settings, self.perspective = settings, perspective

    @activity.defn(name="check_domain_control")
    def check_domain_control(self, req: CheckRequest) -> PerspectiveAnswer:
        return look(self.settings, self.perspective, req)

    @activity.defn(name="check_caa")
    def check_caa(self, req: CaaRequest) -> CaaAnswer:
        return look_caa(self.settings, self.perspective, req)


class DomainValidationActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="prepare_domain_validations")
    def prepare(self, application_id: int) -> list[PendingValidation]:
        """One validation per name of the application; a name covered by the customer's earlier,
        still reusable validation is validated at once (audited as reused). The pending ones."""
        now = utcnow()
        with session_scope(self.ctx.engine) as s:
            app = s.get(Application, application_id)
            if app is None:
                raise ApplicationError("the application no longer exists", non_retryable=True)
            existing = {v.name: v for v in s.exec(select(DomainValidation).where(
                DomainValidation.application_id == application_id)).all()}
            earlier = s.exec(select(DomainValidation).where(DomainValidation.customer_id == app.customer_id,
                                                            DomainValidation.state == "validated")).all()
            for name in app.names:
                if name in existing:
                    continue
                reused = next((v for v in earlier if v.validated_at is not None
                               and validation_reusable(v.validated_at, now)
                               and dcv.covers(dcv.Method(v.method), v.validated_domain, name)), None)
                method = dcv.Method.DNS_CHANGE
                row = DomainValidation(
                    customer_id=app.customer_id, application_id=application_id, name=name,
                    validated_domain=dcv.authorization_domain(name), method=method.value,
                    random_value=secrets.token_urlsafe(dcv.RANDOM_VALUE_BYTES),
                    expires_at=now + timedelta(days=random_value_days(now)))
                if reused is not None:
                    row.state, row.validated_at = "validated", reused.validated_at
                    row.method, row.validated_domain = reused.method, reused.validated_domain
                    row.evidence = [{"reused": reused.id, "validated_at": reused.validated_at.isoformat(),
                                     "method": reused.method, "validated_domain": reused.validated_domain}]
                s.add(row)
                s.flush()
                audit.record(s, "workflow", "dcv.reused" if reused else "dcv.requested", f"application:{app.id}",
                             name=name, validation=row.id, method=row.method,
                             **({"reused": reused.id} if reused else {}))
                existing[name] = row
            return [PendingValidation(int(v.id or 0), v.name, v.method, v.validated_domain, v.random_value,
                                      v.expires_at.isoformat(), v.email_address or "", v.email_generation)
                    for v in existing.values() if v.state == "pending"]

    @activity.defn(name="mail_dcv_email_challenge")
    def mail_email_challenge(self, req: EmailChallenge) -> bool:
        """The Random Value and a new link (``/dcv/{token}``) to the chosen address; False when this
        choice was mailed already or has been replaced (a retry never mails twice).

        The token is made here, so that it never enters the workflow's history; its hash replaces
        the previous one, so only the newest mail's link works. Were the mail server to accept the
        mail and this attempt fail before the bookkeeping, the retry would mail a new link."""
        key = f"dcv-email:{req.validation_id}:{req.generation}:{req.address}"
        now = utcnow()
        with session_scope(self.ctx.engine) as s:
            row = s.exec(select(DomainValidation).where(DomainValidation.id == req.validation_id)
                         .with_for_update()).first()
            if row is None:
                raise ApplicationError("the domain validation no longer exists", non_retryable=True)
            current = (row.state == "pending" and row.method == dcv.Method.CONSTRUCTED_EMAIL
                       and (row.email_generation, row.email_address) == (req.generation, req.address))
            if not current or row.expires_at <= now:
                return False
            local, _, domain = req.address.partition("@")
            if local not in dcv.CONSTRUCTED_LOCAL_PARTS or not dcv.covers(dcv.Method.CONSTRUCTED_EMAIL, domain,
                                                                            row.name):
                raise ApplicationError("not an address BR 3.2.2.4.4 allows for this name", non_retryable=True)
            sent = s.exec(select(SentEmail).where(SentEmail.business_key == key, SentEmail.state == "sent")).first()
            if sent is not None:
                return False
            app = s.get(Application, row.application_id)
            customer = s.get(Customer, row.customer_id)
            organization = str((app.organization if app else {}).get("name") or (customer.organization
                                                                                  if customer else ""))
            token = secrets.token_urlsafe(EMAIL_TOKEN_BYTES)
            row.email_token_hash, row.email_attempts = token_hash(token), 0
            s.add(row)
            context = {"organization": organization, "name": row.name, "domain": domain, "address": req.address,
                       "value": row.random_value, "token": token,
                       "expires_on": row.expires_at.astimezone(ZoneInfo(self.ctx.settings.timezone)).date().isoformat()}
        MailActivities(self.ctx).send_email(MailRequest(key, req.address, EMAIL_TEMPLATE,
                                                        self.ctx.settings.language, context))
        with session_scope(self.ctx.engine) as s:
            row = s.get(DomainValidation, req.validation_id)
            if row is not None and row.email_generation == req.generation:
                row.email_sent_at = utcnow()
                s.add(row)
            audit.record(s, "workflow", "dcv.email_sent", f"application:{row.application_id if row else ''}",
                         validation=req.validation_id, address=req.address, generation=req.generation)
        return True

    @activity.defn(name="record_domain_check")
    def record(self, outcome: CheckOutcome) -> str:
        """The check's evidence (once per check key) and, when corroborated, the validation. The state."""
        with session_scope(self.ctx.engine) as s:
            row = s.exec(select(DomainValidation).where(DomainValidation.id == outcome.validation_id)
                         .with_for_update()).first()
            if row is None:
                raise ApplicationError("the domain validation no longer exists", non_retryable=True)
            if any(e.get("check") == outcome.check_key for e in row.evidence):
                return row.state  # recorded by an earlier attempt
            now = utcnow()
            entry = {"check": outcome.check_key, "at": now.isoformat(), "method": row.method,
                     "value_sha256": hashlib.sha256(row.random_value.encode()).hexdigest(),
                     "passed": outcome.passed, "reason": outcome.reason, "workflow": outcome.workflow_id,
                     "perspectives": [{"name": a.perspective, "found": a.found, "where": a.where, "seen": a.seen}
                                      for a in outcome.answers]}
            if outcome.email_address:
                # Whose mailbox got the value, and when its recipient entered it on the link's page.
                entry |= {"address": outcome.email_address, "value_entered_at": outcome.value_entered_at,
                          "entered_by": "email_recipient"}
            last = row.evidence[-1] if row.evidence else None
            if not outcome.passed and last is not None and _same_look(last, entry):
                # The same failure again (a value not placed yet): one entry counts the repeats, so a
                # month of hourly looks stays one line, not 700 (first "at", "last_at", "repeats").
                entry = {**last, "check": outcome.check_key, "last_at": entry["at"],
                         "repeats": int(last.get("repeats", 1)) + 1}
                row.evidence = [*row.evidence[:-1], entry]
            else:
                row.evidence = [*row.evidence, entry]
            row.checked_at, row.last_result = now, outcome.reason
            if outcome.passed and row.state == "pending":
                row.state, row.validated_at = "validated", now
                audit.record(s, "workflow", "dcv.validated", f"application:{row.application_id}",
                             name=row.name, validation=row.id, method=row.method, reason=outcome.reason)
            s.add(row)
            return row.state

    @activity.defn(name="application_names")
    def names(self, application_id: int) -> list[str]:
        with session_scope(self.ctx.engine) as s:
            app = s.get(Application, application_id)
            if app is None:
                raise ApplicationError("the application no longer exists", non_retryable=True)
            return list(app.names)

    @activity.defn(name="caa_request")
    def caa_request(self, application_id: int) -> CaaRequest:
        """What CAA is looked up for: the names, how each was validated, and whose account it is."""
        with session_scope(self.ctx.engine) as s:
            app = s.get(Application, application_id)
            if app is None:
                raise ApplicationError("the application no longer exists", non_retryable=True)
            rows = s.exec(select(DomainValidation).where(DomainValidation.application_id == application_id)).all()
            methods = {r.name: dcv.CAA_METHOD_LABELS[dcv.Method(r.method)] for r in rows
                       if r.method in tuple(dcv.Method)}
            return CaaRequest(list(app.names), methods,
                              caa.account_uri(self.ctx.settings.resolved_public_url, app.customer_id))

    @activity.defn(name="record_caa_check")
    def record_caa(self, outcome: CaaOutcome) -> list[str]:
        """Each name's CAA result as evidence and on its row (what the issuance checks). The names refused."""
        now = utcnow()
        with session_scope(self.ctx.engine) as s:
            rows = {r.name: r for r in s.exec(select(DomainValidation).where(
                DomainValidation.application_id == outcome.application_id)).all()}
            for name, (permitted, reason) in outcome.results.items():
                row = rows.get(name)
                if row is None:
                    raise ApplicationError(f"no domain validation for {name}", non_retryable=True)
                if any(e.get("caa") == outcome.check_key for e in row.evidence):
                    continue  # recorded by an earlier attempt
                row.caa_checked_at, row.caa_permitted, row.caa_result = now, permitted, reason[:200]
                row.evidence = [*row.evidence, {
                    "caa": outcome.check_key, "at": now.isoformat(), "permitted": permitted, "reason": reason,
                    "workflow": outcome.workflow_id,
                    "perspectives": [{"name": a.perspective, "decision": a.decisions.get(name, "")}
                                     for a in outcome.answers]}]
                s.add(row)
            audit.record(s, "workflow", "caa.checked", f"application:{outcome.application_id}",
                         refused=sorted(n for n, (ok, _) in outcome.results.items() if not ok))
        return sorted(n for n, (ok, _) in outcome.results.items() if not ok)

    @activity.defn(name="expire_domain_validations")
    def expire(self, application_id: int) -> list[str]:
        """The Random Values' time is over: what is still pending expires. The names that did."""
        with session_scope(self.ctx.engine) as s:
            rows = s.exec(select(DomainValidation).where(DomainValidation.application_id == application_id,
                                                         DomainValidation.state == "pending")).all()
            for row in rows:
                row.state = "expired"
                s.add(row)
                audit.record(s, "timer", "dcv.expired", f"application:{application_id}", name=row.name,
                             validation=row.id)
            return [r.name for r in rows]


def _same_look(earlier: dict[str, Any], entry: dict[str, Any]) -> bool:
    """Both failed checks of the same value by the same method, every perspective seeing the same."""
    def seen(e: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(p.get("name"), p.get("found"), p.get("where"), p.get("seen")) for p in e.get("perspectives", [])]

    return ("check" in earlier and earlier.get("passed") is False
            and all(earlier.get(k) == entry.get(k) for k in ("method", "value_sha256", "reason", "address"))
            and seen(earlier) == seen(entry))


def is_expired(pending: PendingValidation, now: datetime) -> bool:
    return datetime.fromisoformat(pending.expires_at) <= now
