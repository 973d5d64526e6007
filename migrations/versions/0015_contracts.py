"""contracts: the contract's life (terms, certificate, state) and the 更新のご案内メール setting

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 03:00:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.models

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contract',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('product', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('contract_type', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=False),
    sa.Column('term_start', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('term_end', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('terms', sa.Integer(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('current_application_id', sa.Integer(), nullable=False),
    sa.Column('certificate_serial', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('certificate_not_before', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('certificate_not_after', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('contacts', sa.JSON(), nullable=False),
    sa.Column('reseller_code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('end_requested_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], ),
    sa.ForeignKeyConstraint(['current_application_id'], ['application.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contract_code'), ['code'], unique=True)
        batch_op.create_index(batch_op.f('ix_contract_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contract_term_end'), ['term_end'], unique=False)
        batch_op.create_index(batch_op.f('ix_contract_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_contract_certificate_not_after'), ['certificate_not_after'],
                              unique=False)
    with op.batch_alter_table('customer_profile', schema=None) as batch_op:
        batch_op.add_column(sa.Column('renewal_notices', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('customer_profile', schema=None) as batch_op:
        batch_op.drop_column('renewal_notices')
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contract_certificate_not_after'))
        batch_op.drop_index(batch_op.f('ix_contract_state'))
        batch_op.drop_index(batch_op.f('ix_contract_term_end'))
        batch_op.drop_index(batch_op.f('ix_contract_customer_id'))
        batch_op.drop_index(batch_op.f('ix_contract_code'))
    op.drop_table('contract')
