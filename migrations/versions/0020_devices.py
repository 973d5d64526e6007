"""devices: a login user's devices and the tenant's contract (L-4, issue 19)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 01:00:00
"""
import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401

import store.models  # noqa: F401

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
