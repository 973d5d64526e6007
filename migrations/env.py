"""Alembic environment: runs on the connection certdesk hands it (``store.db.migrate``)."""

from alembic import context
from sqlmodel import SQLModel

import store.models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata
connection = context.config.attributes.get("connection")

if connection is None:  # plain `alembic` CLI use: build an engine from the configured URL
    from domain.settings import load_settings
    from store.db import make_engine

    url = context.config.get_main_option("sqlalchemy.url") or load_settings().resolved_database_url
    with make_engine(url).begin() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
