"""Schema through Alembic, accounts, and the UTC column, on SQLite and (when configured) PostgreSQL."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel, select

from domain import credentials
from store import accounts
from store.db import migrate, session_scope
from store.models import AuditEvent, Customer, StaffUser, Tenant


def test_migrations_create_every_table_and_match_the_models(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"tenant", "customer", "staff_user", "sent_email", "audit_event", "alembic_version"} <= tables
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_migrate_is_idempotent(engine: Engine) -> None:
    accounts.create_tenant(engine, "example shop")
    migrate(engine)
    migrate(engine)
    with session_scope(engine) as s:
        assert len(s.exec(select(Tenant)).all()) == 1


def test_customer_gets_access_key_hashed_initial_password_and_expiry(engine: Engine) -> None:
    now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    new = accounts.create_customer(engine, "サンプル株式会社", "ca-admin@example.co.jp", timedelta(days=30), now=now)
    assert len(new.access_key) == 8 and new.access_key.isdigit()
    with session_scope(engine) as s:
        c = s.exec(select(Customer).where(Customer.id == new.id)).one()
        assert c.organization == "サンプル株式会社"
        assert c.password_is_initial and not c.password_expired
        assert c.password_expires_at == now + timedelta(days=30)
        assert c.password_expires_at.tzinfo is not None
        assert new.initial_password not in c.password_hash
        assert credentials.verify_password(c.password_hash, new.initial_password)
        events = s.exec(select(AuditEvent).where(AuditEvent.subject == f"customer:{new.id}")).all()
    assert [e.action for e in events] == ["customer.created"]
    assert new.initial_password not in str(events[0].details)


def test_awaiting_expiry_lists_live_initial_passwords_only(engine: Engine) -> None:
    a = accounts.create_customer(engine, "A", "a@example.com", timedelta(days=30))
    b = accounts.create_customer(engine, "B", "b@example.com", timedelta(days=30))
    with session_scope(engine) as s:
        row = s.exec(select(Customer).where(Customer.id == b.id)).one()
        row.password_expired = True
        s.add(row)
    assert [r[0] for r in accounts.customers_awaiting_expiry(engine)] == [a.id]


def test_staff_and_tenant_creation_and_refusals(engine: Engine) -> None:
    pw = accounts.create_staff(engine, "sato", "support")
    assert len(pw) >= 12
    assert accounts.create_staff(engine, "suzuki", "supervisor", password="a long enough pw") == "a long enough pw"
    with pytest.raises(accounts.AccountError, match="already exists"):
        accounts.create_staff(engine, "sato", "support")
    with pytest.raises(accounts.AccountError, match="role"):
        accounts.create_staff(engine, "tanaka", "admin")
    with pytest.raises(accounts.AccountError, match="12 to 128"):
        accounts.create_staff(engine, "tanaka", "support", password="short")
    _, key = accounts.create_tenant(engine, "shop")
    with pytest.raises(accounts.AccountError, match="already exists"):
        accounts.create_tenant(engine, "shop")
    with pytest.raises(accounts.AccountError, match="email"):
        accounts.create_customer(engine, "X", "not-an-address", timedelta(days=1))
    with session_scope(engine) as s:
        staff = s.exec(select(StaffUser).order_by(StaffUser.username)).all()
        assert [(x.username, x.role) for x in staff] == [("sato", "support"), ("suzuki", "supervisor")]
        assert all(x.password_hash.startswith("$argon2id$") for x in staff)
        tenant = s.exec(select(Tenant)).one()
        key_id, secret = credentials.split_api_key(key) or ("", "")
        assert tenant.api_key_id == key_id and credentials.api_key_matches(tenant.api_key_digest, secret)
        # Refused input changed nothing.
        assert len(s.exec(select(Customer)).all()) == 0
        assert len(s.exec(select(Tenant)).all()) == 1


def test_times_come_back_in_utc(engine: Engine) -> None:
    jst = timezone(timedelta(hours=9))
    new = accounts.create_customer(engine, "T", "t@example.com", timedelta(0),
                                   now=datetime(2026, 12, 1, 9, 0, tzinfo=jst))
    with session_scope(engine) as s:
        c = s.exec(select(Customer).where(Customer.id == new.id)).one()
    assert c.password_expires_at == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert c.password_expires_at.utcoffset() == timedelta(0)
