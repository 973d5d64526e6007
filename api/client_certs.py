"""Whether a request carries a client certificate that may be believed (issue 14, finding 1).

The one place both apps ask. A verified certificate reaches them in one of two ways:

* ``certdesk up``'s own HTTPS port (certdesk/client_cert_port.py) verifies it in the handshake and
  puts it in the ASGI scope under ``TLS_PORT_SCOPE_KEY``, a key only a server can set. On that
  port the scope decides and the header is never read.
* a TLS terminator (nginx in docker-compose.yml) verifies it and passes it URL-encoded in
  ``settings.client_cert_header``. That header is believed only when the connection's peer (the
  ASGI ``client``, never X-Forwarded-For) is in ``CERTDESK_TRUSTED_PROXIES``.

From anyone else the header is ignored as if absent: it is public data (no private key), so
believing it would let anyone log in as the certificate's holder. The first one from each peer
is logged at warning level, without the header's content.
"""

import logging
from ipaddress import IPv4Address, IPv6Address, ip_address

from fastapi import Request

# Set by certdesk/client_cert_port.py only: the URL-encoded PEM its handshake verified, "" for none.
TLS_PORT_SCOPE_KEY = "certdesk.verified_client_cert"

log = logging.getLogger("certdesk.client_certs")
_warned: set[str] = set()
_WARN_MEMORY = 1024  # distinct peers remembered; beyond that the set starts over (bounded memory)


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        address = ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return address


def _peer(request: Request) -> str:
    return request.client.host if request.client else ""


def from_trusted_proxy(request: Request) -> bool:
    """The connection itself comes from a configured TLS terminator."""
    networks = request.app.state.settings.trusted_proxy_networks
    address = _address(_peer(request)) if networks else None
    return address is not None and any(address in network for network in networks)


def client_certificate(request: Request) -> str | None:
    """The verified client certificate, URL-encoded PEM as nginx's ``$ssl_client_escaped_cert``; or None."""
    if TLS_PORT_SCOPE_KEY in request.scope:
        return request.scope[TLS_PORT_SCOPE_KEY] or None
    header = request.app.state.settings.client_cert_header
    value = request.headers.get(header)
    if not value:
        return None
    if from_trusted_proxy(request):
        return value
    peer = _peer(request)
    if peer not in _warned:
        if len(_warned) >= _WARN_MEMORY:
            _warned.clear()
        _warned.add(peer)
        log.warning("ignored %s from %s: not a trusted proxy (CERTDESK_TRUSTED_PROXIES)", header, peer or "?")
    return None

