"""sealed answers: a download password kept for its browser's retry, sealed under its step cookie

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 02:00:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.models

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sealed_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enrollment_id', sa.Integer(), nullable=False),
    sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.Column('expires_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollment.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sealed_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sealed_answer_enrollment_id'), ['enrollment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sealed_answer_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sealed_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sealed_answer_expires_at'))
        batch_op.drop_index(batch_op.f('ix_sealed_answer_enrollment_id'))
    op.drop_table('sealed_answer')
