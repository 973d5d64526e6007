"""oidc: OpenID Connect clients, signing keys, codes, consents, tokens (issue 19)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 01:00:00
"""
import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401

import store.models  # noqa: F401

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # --- OpenID Connect provider (issue 19) ---
    op.create_table('oidc_client',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('auth_method', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('secret_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('jwks', sa.JSON(), nullable=True),
    sa.Column('redirect_uris', sa.JSON(), nullable=False),
    sa.Column('scopes', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('oidc_client', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oidc_client_client_id'), ['client_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_oidc_client_tenant_id'), ['tenant_id'], unique=False)
    op.create_table('oidc_signing_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('alg', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('sealed_private_key', sa.LargeBinary(), nullable=False),
    sa.Column('public_jwk', sa.JSON(), nullable=False),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('drop_after', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kid')
    )
    op.create_table('oidc_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('login_user_id', sa.Integer(), nullable=False),
    sa.Column('redirect_uri', sa.Text(), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('nonce', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('code_challenge', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('code_challenge_method', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('auth_time', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('amr', sa.JSON(), nullable=False),
    sa.Column('acr', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('expires_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['oidc_client.id'], ),
    sa.ForeignKeyConstraint(['login_user_id'], ['login_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code_digest')
    )
    with op.batch_alter_table('oidc_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oidc_code_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oidc_code_login_user_id'), ['login_user_id'], unique=False)
    op.create_table('oidc_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('login_user_id', sa.Integer(), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=True),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('issued_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['oidc_client.id'], ),
    sa.ForeignKeyConstraint(['code_id'], ['oidc_code.id'], ),
    sa.ForeignKeyConstraint(['login_user_id'], ['login_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_digest')
    )
    with op.batch_alter_table('oidc_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oidc_token_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oidc_token_code_id'), ['code_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oidc_token_login_user_id'), ['login_user_id'], unique=False)
    op.create_table('oidc_consent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('login_user_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('scopes', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['login_user_id'], ['login_user.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('login_user_id', 'tenant_id')
    )
    with op.batch_alter_table('oidc_consent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oidc_consent_login_user_id'), ['login_user_id'], unique=False)
    op.create_table('oidc_assertion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('jti_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('expires_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('jti_digest')
    )
    with op.batch_alter_table('oidc_assertion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oidc_assertion_expires_at'), ['expires_at'], unique=False)
    with op.batch_alter_table('login_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('oidc_client_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_login_event_oidc_client_id', 'oidc_client', ['oidc_client_id'], ['id'])
    # --- end OpenID Connect provider ---


def downgrade() -> None:
    # --- OpenID Connect provider (issue 19) ---
    with op.batch_alter_table('login_event', schema=None) as batch_op:
        batch_op.drop_constraint('fk_login_event_oidc_client_id', type_='foreignkey')
        batch_op.drop_column('oidc_client_id')
    with op.batch_alter_table('oidc_assertion', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oidc_assertion_expires_at'))
    op.drop_table('oidc_assertion')
    with op.batch_alter_table('oidc_consent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oidc_consent_login_user_id'))
    op.drop_table('oidc_consent')
    with op.batch_alter_table('oidc_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oidc_token_login_user_id'))
        batch_op.drop_index(batch_op.f('ix_oidc_token_code_id'))
        batch_op.drop_index(batch_op.f('ix_oidc_token_client_id'))
    op.drop_table('oidc_token')
    with op.batch_alter_table('oidc_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oidc_code_login_user_id'))
        batch_op.drop_index(batch_op.f('ix_oidc_code_client_id'))
    op.drop_table('oidc_code')
    op.drop_table('oidc_signing_key')
    with op.batch_alter_table('oidc_client', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oidc_client_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_oidc_client_client_id'))
    op.drop_table('oidc_client')
    # --- end OpenID Connect provider ---
