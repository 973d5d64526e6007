"""login methods: per-user login method and TOTP (L-5, issue 19)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 01:00:00
"""
import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401

import store.models  # noqa: F401

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
