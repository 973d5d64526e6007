"""secret hashing by kind (issue 18)

No schema change: the new stored forms (``hmac-sha256$…``, ``blake2b-256$…``, 85 characters) fit the
200-character hash columns, and argon2 hashes made before keep verifying where they are.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 01:00:00
"""
import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401

import store.models  # noqa: F401

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
