"""Headers every answer of both apps carries (an ASGI middleware, so no route can leave them out).

- ``Content-Security-Policy``: our own origin only, no inline script (the pages have none), inline
  ``<style>`` only with this answer's nonce (``csp_nonce`` in the templates), no framing, forms
  posting only to us, no ``<base>``/plugins.
- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` (for browsers without
  ``frame-ancestors``), ``Referrer-Policy: same-origin`` unless the route chose its own: a link
  with a token never goes to another site (``no-referrer`` would make browsers send
  ``Origin: null`` with our own forms, which api/csrf.py cannot tell from another site's).
- ``Cache-Control: no-store`` unless the route chose its caching: every page and API answer
  here is someone's data (desk, staff API, portal, account, the tenant's OTP); only what relying
  parties fetch (``/pki/*``, ``/ocsp``) says it may be cached.
- ``Strict-Transport-Security`` in production. Without ``includeSubDomains``: CRLs and OCSP are
  served over plain HTTP (RFC 5280, BR 7.1.2) and may live on a subdomain.
"""

import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000"


def policy(nonce: str) -> str:
    return ("default-src 'self'; script-src 'self'; "
            f"style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'; form-action 'self'")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, production: bool) -> None:
        self.app, self.production = app, production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce  # request.state.csp_nonce, for the templates

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                wanted = {b"content-security-policy": policy(nonce), b"x-content-type-options": "nosniff",
                          b"x-frame-options": "DENY", b"referrer-policy": "same-origin",
                          b"cache-control": "no-store"}
                if self.production:
                    wanted[b"strict-transport-security"] = HSTS
                added = [(name, value.encode()) for name, value in wanted.items() if name not in present]
                message["headers"] = [*message.get("headers", []), *added]
            await send(message)

        await self.app(scope, receive, send_with_headers)
