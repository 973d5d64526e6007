# certdesk API and worker image (docker-compose.yml runs both from it, plus `certdesk migrate`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CERTDESK_DATA_DIR=/data

# Run as an unprivileged user (the process holds the CA keys); a fixed uid keeps the
# ownership of the /data volume stable across rebuilds.
RUN groupadd --system --gid 10001 certdesk \
    && useradd --system --uid 10001 --gid certdesk --create-home --home-dir /home/certdesk \
       --shell /usr/sbin/nologin certdesk

WORKDIR /app
COPY . .
# Installs the project and its dependencies; the sources stay in /app (owned by root, so
# the running service cannot modify its own code).
RUN pip install . \
    && mkdir -p /data /ca-keys \
    && chown certdesk:certdesk /data /ca-keys \
    && chmod 700 /ca-keys

USER certdesk
# /data (CA keys, generated files) is a named volume in docker-compose.yml; a fresh named
# volume copies this directory's ownership, so the service can write to it.
EXPOSE 8000
CMD ["uvicorn", "--factory", "api.app:create_app", "--host", "0.0.0.0", "--port", "8000"]
