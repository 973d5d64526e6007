#!/bin/sh
# One-shot Temporal schema setup for PostgreSQL, run by temporalio/admin-tools before
# temporalio/server starts (the layout of temporalio/samples-server compose/, which
# replaced the old all-in-one "auto-setup" server image).
#
# Unlike the upstream sample it is safe to re-run on every `docker compose up`:
# - `create` tolerates an existing database;
# - `setup-schema -v 0.0` only runs when the database has no schema_version yet
#   (re-running it on a live database would reset the recorded version);
# - `update-schema` applies only the versions the pinned server needs.
# Errors other than "already exists" still fail the container, so the server never
# starts on a half-migrated database.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${SQL_PASSWORD:?SQL_PASSWORD is required}"   # read by temporal-sql-tool itself, never on argv
DB_PORT="${DB_PORT:-5432}"
SCHEMA_ROOT=/etc/temporal/schema/postgresql/v12

sql() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
    -u "$POSTGRES_USER" "$@"
}

echo "Waiting for PostgreSQL at $POSTGRES_SEEDS:$DB_PORT..."
attempt=0
until nc -z -w 2 "$POSTGRES_SEEDS" "$DB_PORT"; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 30 ]; then
    echo "PostgreSQL is not reachable" >&2
    exit 1
  fi
  sleep 2
done

setup_database() {
  database="$1"
  schema_dir="$2"
  echo "== $database =="
  if ! out=$(sql --db "$database" create 2>&1); then
    case "$out" in
      *"already exists"*) echo "database $database already exists" ;;
      *) echo "$out" >&2; exit 1 ;;
    esac
  fi
  # A fresh database has no schema_version table: update-schema fails, so set the
  # versioning up first. An existing one is simply brought up to date.
  if ! sql --db "$database" update-schema -d "$schema_dir"; then
    sql --db "$database" setup-schema -v 0.0
    sql --db "$database" update-schema -d "$schema_dir"
  fi
}

setup_database temporal "$SCHEMA_ROOT/temporal/versioned"
setup_database temporal_visibility "$SCHEMA_ROOT/visibility/versioned"

echo "PostgreSQL schema setup complete"
