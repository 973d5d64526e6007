"""Domain validation on one machine without the Internet (``certdesk up``, never in production):
the development DNS zone (certdesk/dev_dns.py, kept in ``{data_dir}/dev-dns.json``) and the
website-file target (certdesk/dev_www.py, files under ``{data_dir}/dev-www``), both on loopback,
with the settings pointed at them; a person edits both at /dev/dns.

The resolver of the primary and the local perspectives is pointed at the zone unless
CERTDESK_DNS_RESOLVER is set; then nothing is repointed (the zone is still served, for a
resolver the developer may forward to it). The website fetch goes to the dev server's port
unless CERTDESK_DCV_HTTP_PORT is set, in which case the dev server listens there.
"""

import contextlib
from collections.abc import Iterator

from api.dev_dns import DevNetwork
from certdesk.dev_dns import FileZone, ZoneServer
from certdesk.dev_www import DevSite, serve_site
from domain.settings import Settings


def enabled(settings: Settings) -> bool:
    return not settings.production


@contextlib.contextmanager
def serve_dev_network(settings: Settings) -> Iterator[tuple[Settings, DevNetwork]]:
    """Serves the zone and the site until the block ends; yields the settings to run with.
    A port in use raises OSError (the zone's with ``port`` set to the one asked for)."""
    zone = FileZone(settings.data_dir / "dev-dns.json")
    site = DevSite(settings.data_dir / "dev-www", zone)
    explicit = settings.model_fields_set
    server = ZoneServer(zone, "127.0.0.1", settings.dev_dns_port).start()
    try:
        http_port = settings.dcv_http_port if "dcv_http_port" in explicit else 0
        with serve_site(site, http_port):
            update: dict[str, object] = {}
            if "dns_resolver" not in explicit:
                update = {"dns_resolver": zone.address, "dcv_http_port": site.port}
            yield settings.model_copy(update=update), DevNetwork(zone, site)
    finally:
        server.stop()
