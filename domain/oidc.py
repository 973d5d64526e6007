"""certdesk as an OpenID Connect provider (issue 19): the pure rules.

Pairwise ``sub`` (one tenant's website cannot correlate its users with another's), the claims
a scope gives, the lifetimes of codes, tokens and signing keys, and the sealing of signing keys
(ID token keys, never CA keys) under a key derived from the passphrase.
"""

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import urlsplit

from domain import server_keys

ALG: Final = "ES256"
SCOPES: Final = ("openid", "profile", "email")
AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post", "private_key_jwt")
CODE_LIFETIME: Final = timedelta(minutes=2)
TOKEN_LIFETIME: Final = timedelta(hours=1)  # access token and ID token alike
ROTATE_AFTER: Final = timedelta(days=30)  # a signing key signs this long
# A retired key stays in the JWKS until every token it signed has expired, with a day to spare.
KEEP_AFTER_RETIREMENT: Final = TOKEN_LIFETIME + timedelta(days=1)
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})


def digest(secret: str) -> str:
    """Codes, access tokens and client secrets are 256-bit random: a fast digest is enough to store them."""
    return hashlib.sha256(secret.encode()).hexdigest()


def sub_key(passphrase: str) -> bytes:
    return server_keys.derive(passphrase, b"certdesk oidc pairwise sub v1")


def pairwise_sub(key: bytes, tenant_id: int, tenant_user_id: str) -> str:
    """The ``sub`` of a tenant's user: stable for that tenant and user, unrelated across tenants."""
    mac = hmac.new(key, f"{tenant_id}\x00{tenant_user_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _seal_key(passphrase: str) -> bytes:
    return server_keys.derive(passphrase, b"certdesk oidc signing keys v1")


def seal_private_key(passphrase: str, kid: str, pem: bytes) -> bytes:
    return server_keys.seal(_seal_key(passphrase), pem, kid.encode())


def unseal_private_key(passphrase: str, kid: str, sealed: bytes) -> bytes:
    return server_keys.unseal(_seal_key(passphrase), sealed, kid.encode())


def kid_for(at: datetime) -> str:
    """A rotation's key id, also its business key: a retried rotation finds the key it made."""
    return f"es256-{at:%Y%m%d}"


def acr(method: str) -> str:
    """``acr``: the login method the user authenticated with (domain.login_methods.METHODS)."""
    return f"urn:certdesk:login:{method}"


def allowed_scope(requested: str, allowed: str) -> str:
    allow = set(allowed.split())
    return " ".join(s for s in dict.fromkeys(requested.split()) if s in allow)


def user_claims(scope: str, sub: str, name: str, email: str) -> dict[str, str]:
    """The claims the scopes give (ID token and userinfo alike)."""
    scopes = set(scope.split())
    claims = {"sub": sub}
    if "profile" in scopes:
        claims["name"] = name
    if "email" in scopes:
        claims["email"] = email
    return claims


def redirect_uri_problem(uri: str) -> str | None:
    """None for an acceptable redirect URI; else a message key. HTTPS, or http on a loopback host
    (RFC 8252 native apps and development), absolute, no fragment."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "oidc_err_redirect_uri"
    if not parts.hostname or parts.fragment or len(uri) > 2000:
        return "oidc_err_redirect_uri"
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return None
    return "oidc_err_redirect_uri"
