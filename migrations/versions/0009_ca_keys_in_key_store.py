"""CA keys leave the database: ca.key_pem only for OCSP responders

The signing CAs' keys move to the key store (CERTDESK_CA_KEY_DIR) at the next start of the
worker or `certdesk up` (ca.authority.ensure_hierarchy), which then clears them here.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 19:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ca') as batch:
        batch.alter_column('key_pem', existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('ca') as batch:
        batch.alter_column('key_pem', existing_type=sa.Text(), nullable=False)
