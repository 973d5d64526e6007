"""domain validation by constructed email (BR 3.2.2.4.4): the chosen address and its link's state

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 22:10:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import store.models


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('domain_validation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_address', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))
        batch_op.add_column(sa.Column('email_generation', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('email_token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('email_sent_at', store.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('email_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_index(batch_op.f('ix_domain_validation_email_token_hash'), ['email_token_hash'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('domain_validation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_domain_validation_email_token_hash'))
        batch_op.drop_column('email_attempts')
        batch_op.drop_column('email_sent_at')
        batch_op.drop_column('email_token_hash')
        batch_op.drop_column('email_generation')
        batch_op.drop_column('email_address')
