"""oidc: OpenID Connect clients, signing keys, codes, consents, tokens (issue 19)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 01:00:00
"""
import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401

import store.models  # noqa: F401

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
