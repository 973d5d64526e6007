"""A month of hourly looks at a value nobody placed stays one evidence entry that counts its repeats;
anything different, and every pass, is an entry of its own; a retried record changes nothing."""

from datetime import timedelta

from sqlalchemy import Engine

from activities.context import ActivityContext
from activities.vetting import CheckOutcome, DomainValidationActivities, PerspectiveAnswer
from domain.settings import Settings
from store import accounts
from store.db import session_scope
from store.models import Application, DomainValidation, utcnow
from tests.test_certificate_authority import make_csr


def _validation(engine: Engine) -> int:
    customer = accounts.create_customer(engine, "証拠株式会社", "it@example.co.jp", timedelta(days=30))
    with session_scope(engine) as s:
        app = Application(customer_id=customer.id, type="new", product="ov", csr_pem=make_csr("www.example.jp"),
                          names=["www.example.jp"], organization={"name": "証拠株式会社"})
        s.add(app)
        s.flush()
        row = DomainValidation(customer_id=customer.id, application_id=app.id, name="www.example.jp",
                               validated_domain="www.example.jp", random_value="v" * 22,
                               expires_at=utcnow() + timedelta(days=30))
        s.add(row)
        s.flush()
        return int(row.id or 0)


def _outcome(validation_id: int, key: str, passed: bool, seen: str, reason: str = "primary_failed") -> CheckOutcome:
    answers = [PerspectiveAnswer(p, passed, "_certdesk-challenge.www.example.jp", seen) for p in ("primary", "p1")]
    return CheckOutcome(validation_id, key, passed, "corroborated" if passed else reason, answers, "wf")


def test_repeated_failures_collapse_and_anything_else_is_kept(settings: Settings, engine: Engine) -> None:
    activities = DomainValidationActivities(ActivityContext(settings, engine))
    vid = _validation(engine)
    for i in range(1, 4):
        assert activities.record(_outcome(vid, f"k{i}", False, "(no TXT record)")) == "pending"
    assert activities.record(_outcome(vid, "k3", False, "(no TXT record)")) == "pending"  # a retry of k3
    with session_scope(engine) as s:
        [entry] = s.get(DomainValidation, vid).evidence
    assert (entry["repeats"], entry["check"]) == (3, "k3") and entry["last_at"] >= entry["at"]

    activities.record(_outcome(vid, "k4", False, "wrong-value"))  # something else seen: a new entry
    activities.record(_outcome(vid, "k5", False, "(no TXT record)"))  # and back: new again
    assert activities.record(_outcome(vid, "k6", True, "v" * 22)) == "validated"
    with session_scope(engine) as s:
        evidence = s.get(DomainValidation, vid).evidence
    assert [(e["check"], e.get("repeats", 1), e["passed"]) for e in evidence] == [
        ("k3", 3, False), ("k4", 1, False), ("k5", 1, False), ("k6", 1, True)]
