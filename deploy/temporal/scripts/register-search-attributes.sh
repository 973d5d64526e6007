#!/bin/sh
# One-shot, after temporalio/server is healthy: make sure certdesk's namespace exists
# (temporalio/server, unlike the old auto-setup image, creates none) and register the
# custom search attributes the workflows upsert (domain/settings.py SEARCH_ATTRIBUTES).
# With SQL visibility, search attributes belong to a namespace, hence the order.
# Idempotent: existing namespaces and attributes are left alone.
set -eu

NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_RETENTION:-720h}"
TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
SEARCH_ATTRIBUTES="CertdeskSubject=Keyword CertdeskCustomer=Keyword CertdeskStatus=Keyword"

host="${TEMPORAL_ADDRESS%:*}"
port="${TEMPORAL_ADDRESS##*:}"

echo "Waiting for the Temporal frontend at $TEMPORAL_ADDRESS..."
attempt=0
until nc -z -w 2 "$host" "$port"; do
  attempt=$((attempt + 1))
  [ "$attempt" -lt 60 ] || { echo "Temporal port never opened" >&2; exit 1; }
  sleep 2
done

# Resolve to IPv4 as the upstream create-namespace.sh does: the CLI may otherwise try an
# IPv6 address the server does not listen on.
ip=$( (getent ahostsv4 "$host" 2>/dev/null || getent ahosts "$host" 2>/dev/null) \
  | awk '/STREAM/ && $1 ~ /^[0-9.]+$/ { print $1; exit }')
address="${ip:-$host}:$port"

# The port opens before the frontend serves; the upstream script's 3 tries are known to
# be too few on a cold start (temporalio/samples-server#136), so wait longer.
attempt=0
until temporal operator cluster health --address "$address" >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  [ "$attempt" -lt 60 ] || { echo "Temporal server never became healthy" >&2; exit 1; }
  sleep 2
done
echo "Temporal server is healthy"

if temporal operator namespace describe --namespace "$NAMESPACE" --address "$address" >/dev/null 2>&1; then
  echo "namespace $NAMESPACE exists"
else
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" --address "$address"
fi

# The namespace cache needs a moment after creation; retry the listing briefly.
attempt=0
until existing=$(temporal operator search-attribute list --namespace "$NAMESPACE" --address "$address"); do
  attempt=$((attempt + 1))
  [ "$attempt" -lt 15 ] || { echo "cannot list search attributes" >&2; exit 1; }
  sleep 2
done

for pair in $SEARCH_ATTRIBUTES; do
  name="${pair%%=*}"
  type="${pair##*=}"
  if printf '%s\n' "$existing" | grep -qw "$name"; then
    echo "search attribute $name exists"
  else
    temporal operator search-attribute create --namespace "$NAMESPACE" \
      --name "$name" --type "$type" --address "$address"
    echo "search attribute $name=$type registered"
  fi
done
