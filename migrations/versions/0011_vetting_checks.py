"""vetting checks: organization, phone callback and EV checks recorded by the vetting desk

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 21:55:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import store.models


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vetting_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('check_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('check', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('organization', sa.JSON(), nullable=False),
    sa.Column('checked_by', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('checked_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('check_key')
    )
    with op.batch_alter_table('vetting_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vetting_check_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vetting_check_customer_id'), ['customer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('vetting_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vetting_check_customer_id'))
        batch_op.drop_index(batch_op.f('ix_vetting_check_application_id'))
    op.drop_table('vetting_check')
