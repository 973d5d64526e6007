"""login throttle: failed guesses per name and per client address, locks that expire

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 10:00:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.models

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_throttle',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('started_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_failure_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_throttle_last_failure_at'), ['last_failure_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_throttle_locked_until'), ['locked_until'], unique=False)
    # Locks from wrong passwords were permanent and kept on the account; they now expire and live
    # in login_throttle, so the old columns (and any lock in them) go.
    for table in ('customer', 'staff_user'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('locked_at')
            batch_op.drop_column('failed_logins')


def downgrade() -> None:
    for table in ('customer', 'staff_user'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
            batch_op.add_column(sa.Column('locked_at', store.models.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_throttle_locked_until'))
        batch_op.drop_index(batch_op.f('ix_login_throttle_last_failure_at'))
    op.drop_table('login_throttle')
