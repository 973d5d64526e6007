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
    # --- devices (issue 19, L-4) ---
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_devices', sa.Integer(), nullable=False, server_default='3'))
        batch_op.add_column(sa.Column('login_methods', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False,
                                      server_default='certificate'))
    op.create_table('device',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('login_user_id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('device_type', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('certificate_serial', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('enrollment_id', sa.Integer(), nullable=True),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('removed_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollment.id'], ),
    sa.ForeignKeyConstraint(['login_user_id'], ['login_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_login_user_id'), ['login_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_certificate_serial'), ['certificate_serial'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_enrollment_id'), ['enrollment_id'], unique=False)
    # Each user's certificate so far becomes their first device. Its type was never asked: "pc",
    # the device the manual has the login certificate installed on (「PC 端末」).
    op.execute(
        "INSERT INTO device (login_user_id, email, device_type, certificate_serial, created_at, updated_at, "
        "last_login_at) SELECT u.id, u.email, 'pc', u.certificate_serial, u.created_at, u.updated_at, "
        "(SELECT MAX(e.at) FROM login_event e WHERE e.login_user_id = u.id "
        "AND e.certificate_serial = u.certificate_serial) "
        "FROM login_user u WHERE u.certificate_serial IS NOT NULL")
    # --- end devices ---


def downgrade() -> None:
    # --- devices (issue 19, L-4) ---
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_enrollment_id'))
        batch_op.drop_index(batch_op.f('ix_device_certificate_serial'))
        batch_op.drop_index(batch_op.f('ix_device_login_user_id'))
    op.drop_table('device')
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.drop_column('login_methods')
        batch_op.drop_column('max_devices')
    # --- end devices ---
