"""site seal: a public id per contract for the Web ステッカー and its verification page

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 21:10:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.models  # noqa: F401

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seal_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_contract_seal_id'), ['seal_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contract_seal_id'))
        batch_op.drop_column('seal_id')
