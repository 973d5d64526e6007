"""The OpenID Connect provider's records (issue 19): clients, signing keys, codes, tokens, consents."""

import secrets
from datetime import datetime

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from joserfc.jwk import ECKey
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from domain import oidc as d
from store import audit
from store.models import (
    LoginEvent,
    OidcAssertion,
    OidcClient,
    OidcCode,
    OidcConsent,
    OidcSigningKey,
    OidcToken,
    Tenant,
    utcnow,
)


class ClientRefused(ValueError):
    """A client registration that cannot be kept; ``key`` names the message (domain/locales/*/oidc.json)."""

    def __init__(self, key: str, field: str) -> None:
        super().__init__(key)
        self.key, self.field = key, field


# --- clients ---
def add_client(s: Session, tenant_id: int, redirect_uris: list[str], *, name: str = "", scopes: str = "openid",
               auth_method: str = "client_secret_basic", jwks: dict | None = None,
               actor: str = "operator") -> tuple[OidcClient, str | None]:
    """A new client of the tenant and its secret (shown once; None for ``private_key_jwt``)."""
    if not redirect_uris:
        raise ClientRefused("oidc_err_redirect_uri", "redirect_uris")
    for uri in redirect_uris:
        if problem := d.redirect_uri_problem(uri):
            raise ClientRefused(problem, "redirect_uris")
    if auth_method not in d.AUTH_METHODS:
        raise ClientRefused("oidc_err_auth_method", "auth_method")
    if auth_method == "private_key_jwt" and not (jwks and isinstance(jwks.get("keys"), list) and jwks["keys"]):
        raise ClientRefused("oidc_err_jwks", "jwks")
    chosen = scopes.split()
    if "openid" not in chosen or any(scope not in d.SCOPES for scope in chosen) or len(name) > 200:
        raise ClientRefused("oidc_err_scopes" if len(name) <= 200 else "oidc_err_name",
                            "scopes" if len(name) <= 200 else "name")
    secret = None if auth_method == "private_key_jwt" else secrets.token_urlsafe(32)
    client = OidcClient(client_id=f"cdc_{secrets.token_hex(12)}", tenant_id=tenant_id, name=name.strip(),
                        auth_method=auth_method, secret_digest=d.digest(secret) if secret else None,
                        jwks=jwks if auth_method == "private_key_jwt" else None,
                        redirect_uris=list(dict.fromkeys(redirect_uris)), scopes=" ".join(dict.fromkeys(chosen)))
    s.add(client)
    s.flush()
    audit.record(s, actor, "oidc_client.created", f"tenant:{tenant_id}", client_id=client.client_id,
                 redirect_uris=client.redirect_uris, auth_method=auth_method)
    return client, secret


def clients_of(s: Session, tenant_id: int) -> list[OidcClient]:
    return list(s.exec(select(OidcClient).where(OidcClient.tenant_id == tenant_id).order_by(col(OidcClient.id))))


def client_by_client_id(s: Session, client_id: str) -> OidcClient | None:
    return s.exec(select(OidcClient).where(OidcClient.client_id == client_id)).first() if client_id else None


def tenant_by_name(s: Session, name: str) -> Tenant | None:
    return s.exec(select(Tenant).where(Tenant.name == name)).first()


# --- signing keys ---
def rotate_signing_keys(s: Session, passphrase: str, now: datetime) -> dict[str, object]:
    """Make a new signing key when the newest is older than ROTATE_AFTER (or none exists), retire the
    ones before it, and drop retired keys past ``drop_after``. Idempotent for one ``now``: the kid is
    the rotation's day."""
    keys = list(s.exec(select(OidcSigningKey).order_by(col(OidcSigningKey.created_at))))
    newest = keys[-1] if keys else None
    created = None
    if newest is None or now - newest.created_at >= d.ROTATE_AFTER:
        kid = d.kid_for(now)
        if not any(k.kid == kid for k in keys):
            key = ECKey.generate_key("P-256", private=True)
            pem = key.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
            public = {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": d.ALG}
            row = OidcSigningKey(kid=kid, alg=d.ALG, sealed_private_key=d.seal_private_key(passphrase, kid, pem),
                                 public_jwk=public, created_at=now)
            try:
                with s.begin_nested():
                    s.add(row)
                    s.flush()
            except IntegrityError:  # another run made it just now
                pass
            else:
                keys.append(row)
                created = kid
    dropped = []
    newest = keys[-1] if keys else None
    for key in keys:
        if key is newest:
            continue
        if key.retired_at is None:
            key.retired_at, key.drop_after = now, now + d.KEEP_AFTER_RETIREMENT
            s.add(key)
        elif key.drop_after is not None and key.drop_after <= now:
            dropped.append(key.kid)
            s.delete(key)
    return {"created": created, "dropped": dropped, "active": newest.kid if newest else None}


def signing_key(s: Session) -> OidcSigningKey | None:
    """The key that signs now: the newest not retired."""
    return s.exec(select(OidcSigningKey).where(col(OidcSigningKey.retired_at).is_(None))
                  .order_by(col(OidcSigningKey.created_at).desc())).first()


def all_signing_keys(s: Session) -> list[OidcSigningKey]:
    return list(s.exec(select(OidcSigningKey).order_by(col(OidcSigningKey.created_at))))


def private_jwk(passphrase: str, row: OidcSigningKey) -> ECKey:
    pem = d.unseal_private_key(passphrase, row.kid, row.sealed_private_key)
    return ECKey.import_key(pem, {"kid": row.kid, "use": "sig", "alg": row.alg})


def public_jwks(s: Session) -> dict[str, list[dict]]:
    """The JWKS: every key not dropped, so tokens signed before a rotation verify until they expire."""
    rows = s.exec(select(OidcSigningKey).order_by(col(OidcSigningKey.created_at).desc())).all()
    return {"keys": [dict(r.public_jwk) for r in rows]}


# --- codes and tokens ---
def save_code(s: Session, code: str, client: OidcClient, login_user_id: int, *, redirect_uri: str, scope: str,
              nonce: str | None, challenge: str, method: str, amr: list[str], acr: str,
              auth_time: datetime) -> None:
    s.add(OidcCode(code_digest=d.digest(code), client_id=int(client.id or 0), login_user_id=login_user_id,
                   redirect_uri=redirect_uri, scope=scope, nonce=nonce, code_challenge=challenge,
                   code_challenge_method=method, auth_time=auth_time, amr=amr, acr=acr,
                   expires_at=auth_time + d.CODE_LIFETIME))


def code_for(s: Session, code: str, client: OidcClient) -> OidcCode | None:
    """The unused, unexpired code of this client. A code presented again is refused, and the tokens
    it gave are revoked (RFC 6749 4.1.2: a replayed code means it leaked)."""
    row = s.exec(select(OidcCode).where(OidcCode.code_digest == d.digest(code))).first()
    if row is None or row.client_id != client.id:
        return None
    if row.used_at is not None:
        revoke_tokens_of_code(s, int(row.id or 0))
        return None
    return row if row.expires_at > utcnow() else None


def use_code(s: Session, code_id: int) -> None:
    row = s.get(OidcCode, code_id)
    if row is not None and row.used_at is None:
        row.used_at = utcnow()
        s.add(row)


def revoke_tokens_of_code(s: Session, code_id: int) -> None:
    for token in s.exec(select(OidcToken).where(OidcToken.code_id == code_id,
                                                col(OidcToken.revoked_at).is_(None))):
        token.revoked_at = utcnow()
        s.add(token)


def save_token(s: Session, access_token: str, client_id: int, login_user_id: int, code_id: int | None,
               scope: str, expires_at: datetime) -> None:
    s.add(OidcToken(token_digest=d.digest(access_token), client_id=client_id, login_user_id=login_user_id,
                    code_id=code_id, scope=scope, expires_at=expires_at))


def token_for(s: Session, access_token: str) -> OidcToken | None:
    return s.exec(select(OidcToken).where(OidcToken.token_digest == d.digest(access_token))).first()


def revoke_token(s: Session, token_id: int) -> None:
    row = s.get(OidcToken, token_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        s.add(row)


def first_use_of_assertion(s: Session, client_id: str, jti: str, expires_at: datetime) -> bool:
    """Whether this client's assertion ``jti`` is new (and now spent); expired ones are forgotten."""
    s.exec(delete(OidcAssertion).where(col(OidcAssertion.expires_at) < utcnow()))
    try:
        with s.begin_nested():
            s.add(OidcAssertion(jti_digest=d.digest(f"{client_id}\x00{jti}"), expires_at=expires_at))
            s.flush()
    except IntegrityError:
        return False
    return True


# --- consent and the login history ---
def has_consent(s: Session, login_user_id: int, tenant_id: int, scope: str) -> bool:
    row = s.exec(select(OidcConsent).where(OidcConsent.login_user_id == login_user_id,
                                           OidcConsent.tenant_id == tenant_id)).first()
    return row is not None and set(scope.split()) <= set(row.scopes.split())


def record_consent(s: Session, login_user_id: int, tenant_id: int, scope: str) -> None:
    row = s.exec(select(OidcConsent).where(OidcConsent.login_user_id == login_user_id,
                                           OidcConsent.tenant_id == tenant_id)).first()
    if row is None:
        row = OidcConsent(login_user_id=login_user_id, tenant_id=tenant_id, scopes=scope)
    else:
        row.scopes = " ".join(dict.fromkeys(row.scopes.split() + scope.split()))
        row.at = utcnow()
    s.add(row)
    audit.record(s, f"end_user:{login_user_id}", "oidc.consented", f"tenant:{tenant_id}", scope=row.scopes)


def login_places(s: Session, events: list[LoginEvent]) -> dict[int, str]:
    """For each OpenID Connect login among ``events``, the name of the tenant whose website it was for."""
    ids = {e.oidc_client_id for e in events if e.oidc_client_id}
    if not ids:
        return {}
    names = {c.id: t.name for c, t in s.exec(select(OidcClient, Tenant).where(
        col(OidcClient.id).in_(ids), OidcClient.tenant_id == Tenant.id))}
    return {int(e.id or 0): names.get(e.oidc_client_id, "") for e in events if e.oidc_client_id}
