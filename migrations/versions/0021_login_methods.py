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
    with op.batch_alter_table('login_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('login_method', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False,
                                      server_default='certificate'))
    op.create_table('login_totp',
    sa.Column('login_user_id', sa.Integer(), nullable=False),
    sa.Column('secret_sealed', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('pending_sealed', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('confirmed_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_step', sa.Integer(), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['login_user_id'], ['login_user.id'], ),
    sa.PrimaryKeyConstraint('login_user_id')
    )


def downgrade() -> None:
    op.drop_table('login_totp')
    with op.batch_alter_table('login_user', schema=None) as batch_op:
        batch_op.drop_column('login_method')
