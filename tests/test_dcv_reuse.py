"""Reuse of a completed domain validation (BR 4.2.1; domain/vetting/periods.py): within the period in
force a later application of the same customer is validated at once, and after it a new Random
Value is needed.

The reuse decision is the ``prepare_domain_validations`` activity's, made on the wall clock
(``store.models.utcnow``), which the time-skipping server's clock does not move: skipping 200 days
there would prove nothing. So the period's edge is tested on that activity against a real
database with explicit timestamps, and one time-skipping run, across a few days, goes through the
whole path: reused names at once, the new one waiting (and reminded) until its record is placed.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import select

from activities.context import ActivityContext
from activities.vetting import DomainValidationActivities
from domain.settings import Settings
from domain.vetting.periods import domain_reuse_days
from store import accounts, dev_mailbox
from store.db import session_scope
from store.models import Application, DomainValidation, utcnow
from tests.test_applications import _customer_token
from tests.test_certificate_authority import make_csr
from tests.test_vetting_e2e import Vetting, skipping  # noqa: F401 (skipping: the fixture)

NAME = "www.example.co.jp"


async def test_a_later_application_reuses_at_once_the_new_name_waits_another_customer_does_not_reuse(
        skipping: Vetting) -> None:  # noqa: F811 (the fixture)
    v = skipping
    first = await v.apply(NAME)
    row = (await v.requested(first, NAME))[NAME]
    v.place(f"_certdesk-challenge.{NAME}", row.random_value)
    await v.recheck(first)
    await v.status(first, "reviewing")
    validated = v.rows(first)[NAME]
    assert validated.state == "validated" and validated.validated_at is not None
    await v.env.sleep(timedelta(days=3))  # a few days later, in the workflows' time

    # The same customer: the name and a wildcard below it are covered (DNS change covers subdomains
    # and wildcards, BR 3.2.2.4.7); a name of its own is not.
    wildcard, shop = f"*.{NAME}", "shop.example.co.jp"
    second = await v.apply(NAME, wildcard, shop)
    rows = await v.requested(second, NAME, wildcard, shop)
    shown = await v.validations(second)
    for name in (NAME, wildcard):
        assert rows[name].state == "validated" and rows[name].validated_at == validated.validated_at
        assert rows[name].evidence == [{"reused": validated.id, "validated_at": validated.validated_at.isoformat(),
                                        "method": "dns_change", "validated_domain": NAME}]
        assert shown[name]["reused_from"] == validated.id and shown[name]["random_value"] is None
    assert rows[shop].state == "pending" and shown[shop]["reused_from"] is None and shown[shop]["random_value"]
    assert (await v.detail(second))["status"] == "validating"

    # Another customer never reuses this customer's validation: a value of their own to place.
    other = _customer_token(v.engine, v.settings, "Other KK", "it@other.example.co.jp")
    theirs = await v.apply(NAME, customer=other)
    their_row = (await v.requested(theirs, NAME))[NAME]
    assert their_row.state == "pending" and their_row.random_value != validated.random_value
    assert (await v.validations(theirs, other))[NAME]["reused_from"] is None

    # A day on, the reminder asks only for the name still pending.
    await v.env.sleep(timedelta(days=1, minutes=5))
    reminders = [m for m in dev_mailbox.list_mail(v.mailbox)
                 if m.recipients == "it@example.co.jp" and "ドメイン認証のお願い" in m.subject]
    assert len(reminders) == 1 and f"（申請番号 {second}）" in reminders[0].subject
    assert f"- {shop}" in reminders[0].body and rows[shop].random_value in reminders[0].body
    assert f"- {NAME}" not in reminders[0].body and f"- {wildcard}" not in reminders[0].body

    v.place(f"_certdesk-challenge.{shop}", rows[shop].random_value)
    await v.recheck(second)
    await v.status(second, "reviewing")
    actions = [e.action for e in v.audit(second)]
    assert actions.count("dcv.reused") == 2 and actions.count("dcv.requested") == 1
    assert actions.count("dcv.validated") == 1  # shop's own validation; the reused ones were not checked again
    assert (await v.detail(theirs, other))["status"] == "validating"


def _application(engine: Engine, customer_id: int) -> int:
    with session_scope(engine) as s:
        app = Application(customer_id=customer_id, type="new", product="ov", csr_pem=make_csr(NAME), names=[NAME],
                          organization={"name": "Example KK"})
        s.add(app)
        s.flush()
        return int(app.id or 0)


def _validated(engine: Engine, customer_id: int, at: datetime) -> int:
    """A validation of NAME the customer completed ``at``."""
    with session_scope(engine) as s:
        row = DomainValidation(customer_id=customer_id, application_id=_application(engine, customer_id), name=NAME,
                               validated_domain=NAME, random_value="an-old-value-from-then-aaaa", state="validated",
                               created_at=at - timedelta(hours=1), expires_at=at + timedelta(days=29),
                               validated_at=at)
        s.add(row)
        s.flush()
        return int(row.id or 0)


def test_reused_just_inside_the_period_in_force_and_not_just_after(settings: Settings, engine: Engine) -> None:
    now = utcnow()
    # BR 4.2.1 (SC-081): 200 days for issuance from 2026-03-15, 100 from 2027-03-15, 10 from 2029-03-15.
    days = domain_reuse_days(now)
    in_force = 200 if now < datetime(2027, 3, 15, tzinfo=UTC) else 100 if now < datetime(2029, 3, 15, tzinfo=UTC) \
        else 10
    assert days == in_force
    prepare = DomainValidationActivities(ActivityContext(settings, engine)).prepare
    customer = accounts.create_customer(engine, "Example KK", "it@example.co.jp", timedelta(days=30)).id

    inside = now - timedelta(days=days) + timedelta(hours=1)
    earlier = _validated(engine, customer, inside)
    app_id = _application(engine, customer)
    assert prepare(app_id) == []  # nothing pending: validated at once
    with session_scope(engine) as s:
        reused = s.exec(select(DomainValidation).where(DomainValidation.application_id == app_id)).one()
        assert (reused.state, reused.validated_at, reused.evidence[0]["reused"]) == ("validated", inside, earlier)
        values = {"an-old-value-from-then-aaaa", reused.random_value}
        # The reused row keeps the first validation's date: reusing it again cannot stretch the period.
        for row in (s.get(DomainValidation, earlier), reused):
            row.validated_at = now - timedelta(days=days) - timedelta(hours=1)  # just past it (well within 398)
            s.add(row)

    late = _application(engine, customer)
    pending = prepare(late)
    assert [p.name for p in pending] == [NAME]
    assert pending[0].random_value not in values
    assert abs(datetime.fromisoformat(pending[0].expires_at) - now - timedelta(days=30)) < timedelta(minutes=1)
    with session_scope(engine) as s:
        fresh = s.get(DomainValidation, pending[0].validation_id)
        assert fresh is not None and fresh.state == "pending" and fresh.evidence == []
    assert prepare(late) == pending  # asked again (a retry): the same value, nothing new

