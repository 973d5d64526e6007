"""The loopback authoritative DNS server tests use (the ``dns_zone`` fixture): the product's
development one, certdesk/dev_dns.py, under the names tests have always imported."""

from certdesk.dev_dns import MAX_CNAME_HOPS, TTL, Zone, ZoneServer, serve_zone

__all__ = ["MAX_CNAME_HOPS", "TTL", "Zone", "ZoneServer", "serve_zone"]
