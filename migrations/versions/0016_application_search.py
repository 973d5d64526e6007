"""application search: the download state and the indexes behind お申込一覧's filters

Adds to ``application``: ``downloaded_at`` (the certificate's first download), the lower-cased
search texts (``search_organization``, ``search_names``: kept in the list's index), ``updated_at`` (更新日,
backfilled with the last known change), ``line_id`` (the first record of the record's line, so that
a list joins the line's contract in one step; backfilled by walking parents one level a pass), and
the (customer, date) indexes the list's search uses, and a (customer, application) index of contracts.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 21:10:00
"""
import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.models

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# What the list filters and shows, kept in the (customer, date) indexes (PostgreSQL: index-only reads).
LIST_COLUMNS = ["id", "line_id", "type", "product", "status", "issued_at", "downloaded_at", "created_at",
                "updated_at"]
SEARCH_TEXT_COLUMNS = ["search_organization", "search_names", "coupon"]
SORTS = {"status": "status", "type": "type", "product": "product", "issued": "issued_at"}  # the list's △ sorts


def upgrade() -> None:
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('line_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('downloaded_at', store.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('updated_at', store.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('search_organization', sqlmodel.sql.sqltypes.AutoString(length=200),
                                      nullable=False, server_default=''))
        batch_op.add_column(sa.Column('search_names', sqlmodel.sql.sqltypes.AutoString(length=1000),
                                      nullable=False, server_default=''))
        batch_op.create_index('ix_application_customer_created', ['customer_id', 'created_at'], unique=False,
                              postgresql_include=LIST_COLUMNS + SEARCH_TEXT_COLUMNS)
        batch_op.create_index('ix_application_customer_updated', ['customer_id', 'updated_at'], unique=False,
                              postgresql_include=LIST_COLUMNS)
        for key, column in SORTS.items():
            batch_op.create_index(f'ix_application_customer_{key}', ['customer_id', column, 'id'], unique=False)
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.create_index('ix_contract_customer_application', ['customer_id', 'application_id'], unique=False,
                              postgresql_include=['state', 'code'])
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE application SET updated_at = COALESCE(issued_at, created_at)"))
    for row_id, organization, names in bind.execute(sa.text("SELECT id, organization, names FROM application")).all():
        org, found = (json.loads(v) if isinstance(v, str) else v for v in (organization, names))
        texts = store.models.search_texts(org or {}, found or [])
        bind.execute(sa.text("UPDATE application SET search_organization = :o, search_names = :n WHERE id = :id"),
                     {"o": texts[0], "n": texts[1], "id": row_id})
    # Parents have smaller ids and are older; each pass carries the line one level further down.
    parent_line = "(SELECT COALESCE(p.line_id, p.id) FROM application p WHERE p.id = application.parent_id)"
    while bind.execute(sa.text(
            f"UPDATE application SET line_id = {parent_line} "
            f"WHERE parent_id IS NOT NULL AND (line_id IS NULL OR line_id <> {parent_line})")).rowcount:
        pass


def downgrade() -> None:
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_index('ix_contract_customer_application')
    with op.batch_alter_table('application', schema=None) as batch_op:
        for key in SORTS:
            batch_op.drop_index(f'ix_application_customer_{key}')
        batch_op.drop_index('ix_application_customer_updated')
        batch_op.drop_index('ix_application_customer_created')
        batch_op.drop_column('search_names')
        batch_op.drop_column('search_organization')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('downloaded_at')
        batch_op.drop_column('line_id')
