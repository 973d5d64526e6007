#!/bin/sh
# Runs once, when the postgres container initialises an EMPTY data directory
# (docker-entrypoint-initdb.d). The certdesk role and database come from
# POSTGRES_USER / POSTGRES_DB; Temporal gets its own role so that it can own
# (and create, via temporal-sql-tool) its two databases without touching certdesk's.
# No `set -u`: the entrypoint sources .sh files that lost their exec bit, and -u
# would leak into it.
set -e

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v temporal_password="${TEMPORAL_DB_PASSWORD:-temporal}" <<'SQL'
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_password';
SQL
