"""coupons: the customer's coupons (クーポン管理)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 21:10:00
"""
import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401

import store.models  # noqa: F401

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # --- new-application form (issue 17): サーバタイプ and the customer's coupons ---
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('server_type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False,
                                      server_default=''))
    op.create_table('coupon',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('valid_from', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=True),
    sa.Column('used_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('issued_by', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('application_id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('coupon', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupon_customer_id'), ['customer_id'], unique=False)
    # --- end new-application form ---


def downgrade() -> None:
    # --- new-application form (issue 17) ---
    with op.batch_alter_table('coupon', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupon_customer_id'))
    op.drop_table('coupon')
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_column('server_type')
    # --- end new-application form ---
