"""certdesk as an OpenID Connect provider (issue 19): the protocol by Authlib's server parts, JOSE by joserfc.

On the main app: discovery, JWKS, token (authorization code with PKCE S256, client_secret_basic,
client_secret_post or private_key_jwt), userinfo, revocation (RFC 7009), and the tenant API's
``/api/v1/clients``. The authorization endpoint is on the account app (api/oidc_authorize.py),
where the login certificate is presented; both build the same server (``server_for``).

No implicit or hybrid flow: the only response type is ``code``, the only grant authorization_code.
"""

import asyncio
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.resource_protector import ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from joserfc.jwk import KeySet
from pydantic import BaseModel
from sqlalchemy import Engine

from api.deps import Tenant
from api.errors import invalid
from api.i18n import messages
from domain import oidc as d
from domain.settings import Settings
from store import oidc as records
from store.db import session_scope
from store.models import LoginUser, OidcClient, OidcCode, OidcToken, utcnow
from store.passphrase import passphrase

router = APIRouter()
PATHS = {"token": "/oidc/token", "userinfo": "/oidc/userinfo", "revocation": "/oidc/revoke", "jwks": "/oidc/jwks"}
AUTHORIZE_PATH = "/oidc/authorize"


def issuer(settings: Settings) -> str:
    return settings.resolved_public_url


def account_url(settings: Settings) -> str:
    """Where the account app (and so the authorization endpoint) is reached with a login certificate."""
    return (settings.account_public_url or f"https://{settings.api_host}:{settings.tls_port}").rstrip("/")


# --- Authlib's models over our rows ---
@dataclass
class EndUser:
    """The person an authorization is for, and how they authenticated this time."""

    login_user_id: int
    amr: list[str]
    acr: str
    serial: str = ""


class Client(ClientMixin):
    def __init__(self, row: OidcClient) -> None:
        self.row, self.client_id, self.client_metadata = row, row.client_id, {}
        self.id_token_signed_response_alg = d.ALG

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # the redirect URI is always named (OpenID Connect Core 3.1.2.1)

    def get_allowed_scope(self, scope: str) -> str:
        return d.allowed_scope(scope or "", self.row.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris  # exact match only

    def check_client_secret(self, client_secret: str) -> bool:
        digest = self.row.secret_digest
        return bool(digest) and hmac.compare_digest(d.digest(client_secret or ""), digest or "")

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.row.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


class Code(AuthorizationCodeMixin):
    def __init__(self, row: OidcCode) -> None:
        self.row = row
        self.code_challenge, self.code_challenge_method = row.code_challenge, row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> str:
        return self.row.acr

    def get_amr(self) -> list[str]:
        return list(self.row.amr)


class Token(TokenMixin):
    def __init__(self, row: OidcToken, client: OidcClient) -> None:
        self.row, self.client = row, client

    def check_client(self, client: Client) -> bool:
        return client.row.id == self.row.client_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int(d.TOKEN_LIFETIME.total_seconds())

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None

    def get_user(self) -> int:
        return self.row.login_user_id

    def get_client(self) -> Client:
        return Client(self.client)


# --- the server ---
class S256Only(CodeChallenge):
    """PKCE is required of every client (not only public ones), and only with S256."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge'", redirect_uri=redirect_uri)
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256", redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)


class Provider(AuthorizationServer):
    """Authlib's server on our tables. Requests are built from already read parameters (``request_for``)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        super().__init__(scopes_supported=list(d.SCOPES))
        self.engine, self.settings = engine, settings
        expires = int(d.TOKEN_LIFETIME.total_seconds())
        self.register_token_generator("default", BearerTokenGenerator(
            lambda *_a, **_k: generate_token(48), None, lambda *_a, **_k: expires))
        self.register_grant(CodeGrant, [S256Only(required=True), IdToken(self)])
        self.register_endpoint(Revocation(server=self))
        self.register_client_auth_method("private_key_jwt", ClientAssertion(self))

    def query_client(self, client_id: str) -> Client | None:
        with session_scope(self.engine) as s:
            row = records.client_by_client_id(s, client_id or "")
            return Client(row) if row else None

    def save_token(self, token: dict, request: OAuth2Request) -> None:
        code: Code | None = request.authorization_code
        user: EndUser = request.user
        with session_scope(self.engine) as s:
            records.save_token(s, token["access_token"], int(request.client.row.id), user.login_user_id,
                               int(code.row.id or 0) if code else None, token.get("scope", ""),
                               utcnow() + d.TOKEN_LIFETIME)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass  # no listeners

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request  # always built by request_for

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=dict(headers))
        return Response(body or b"", status_code=status, headers=dict(headers))

    def signing_kid(self) -> str:
        with session_scope(self.engine) as s:
            row = records.signing_key(s)
            if row is None:
                raise RuntimeError("no OpenID Connect signing key yet: the OidcKeyRotation schedule makes one")
            return row.kid

    def private_keys(self) -> KeySet:
        """Every stored key, private: joserfc signs with the one the header's ``kid`` names, so a
        rotation between choosing the kid and signing cannot mismatch them."""
        secret = passphrase(self.settings)
        with session_scope(self.engine) as s:
            return KeySet([records.private_jwk(secret, row) for row in records.all_signing_keys(s)])


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(d.AUTH_METHODS)  # noqa: RUF012
    server: Provider

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        user: EndUser = request.user
        data = request.payload.data
        with session_scope(self.server.engine) as s:
            records.save_code(s, code, request.client.row, user.login_user_id,
                              redirect_uri=data.get("redirect_uri", ""),
                              scope=request.client.get_allowed_scope(request.scope or ""),
                              nonce=data.get("nonce"), challenge=data.get("code_challenge", ""),
                              method=data.get("code_challenge_method", ""), amr=user.amr, acr=user.acr,
                              auth_time=utcnow())

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        # Claimed at once: a code that fails a later check (PKCE, redirect URI) is spent all the same.
        with session_scope(self.server.engine) as s:
            row = records.code_for(s, code, client.row)
            if row is None:
                return None
            records.use_code(s, int(row.id or 0))
            s.flush()
            s.expunge(row)
            return Code(row)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        pass  # spent when it was queried

    def authenticate_user(self, authorization_code: Code) -> EndUser:
        row = authorization_code.row
        return EndUser(row.login_user_id, list(row.amr), row.acr)


class IdToken(OpenIDCode):
    def __init__(self, server: Provider) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False  # a nonce is the relying party's to check in the ID token; codes are single-use

    def resolve_client_private_key(self, client: Client) -> KeySet:
        return self.server.private_keys()

    def get_client_algorithm(self, client: Client) -> str:
        return d.ALG

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": d.ALG, "kid": self.server.signing_kid()}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": issuer(self.server.settings), "aud": [client.get_client_id()], "iat": now,
                "exp": now + int(d.TOKEN_LIFETIME.total_seconds())}

    def generate_user_info(self, user: EndUser, scope: str) -> dict[str, str]:
        return user_info(self.server.engine, self.server.settings, user.login_user_id, scope)


def user_info(engine: Engine, settings: Settings, login_user_id: int, scope: str) -> dict[str, str]:
    with session_scope(engine) as s:
        user = s.get(LoginUser, login_user_id)
        if user is None:
            return {}
        sub = d.pairwise_sub(d.sub_key(passphrase(settings)), user.tenant_id, user.user_id)
        return d.user_claims(scope, sub, user.certificate_name, user.email)


class ClientAssertion(JWTBearerClientAssertion):
    """private_key_jwt (RFC 7523): the client signs an assertion with a key of its registered JWKS."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, server: Provider) -> None:
        super().__init__(validate_jti=True)
        self.server = server

    def validate_jti(self, claims: Any, jti: str) -> bool:
        """Each assertion once (OpenID Connect Core 9), remembered until it expires."""
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC) + timedelta(minutes=2)  # past the leeway
        with session_scope(self.server.engine) as s:
            return records.first_use_of_assertion(s, str(claims["sub"]), jti, expires)

    def get_audiences(self) -> list[str]:
        base = issuer(self.server.settings)
        return [base, base + PATHS["token"]]

    def resolve_client_public_key(self, client: Client) -> KeySet:
        return KeySet.import_key_set(client.row.jwks or {"keys": []})


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = list(d.AUTH_METHODS)  # noqa: RUF012

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        with session_scope(self.server.engine) as s:
            row = records.token_for(s, token_string)
            client = s.get(OidcClient, row.client_id) if row else None
            return Token(row, client) if row and client else None

    def revoke_token(self, token: Token, request: OAuth2Request) -> None:
        with session_scope(self.server.engine) as s:
            records.revoke_token(s, int(token.row.id or 0))


class AccessTokens(BearerTokenValidator):
    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine

    def authenticate_token(self, token_string: str) -> Token | None:
        with session_scope(self.engine) as s:
            row = records.token_for(s, token_string)
            client = s.get(OidcClient, row.client_id) if row else None
            return Token(row, client) if row and client else None


class Params(OAuth2Request):
    """An OAuth2Request over parameters the route has read (Starlette reads bodies asynchronously)."""

    def __init__(self, method: str, uri: str, headers: Any, data: dict[str, str],
                 datalist: dict[str, list[str]]) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = BasicOAuth2Payload(data)
        self.payload._datalist = datalist  # repeated parameters are refused by Authlib, so keep them all
        self._data = data

    @property
    def args(self) -> dict[str, str]:
        return self._data if self.method == "GET" else {}

    @property
    def form(self) -> dict[str, str]:
        return self._data if self.method != "GET" else {}


def _transport_uri(request: Request) -> str:
    # Behind the TLS terminator the app sees plain http; the connection itself is HTTPS.
    url = str(request.url)
    return "https://" + url.split("://", 1)[1]


async def request_for(request: Request, fields: dict[str, str] | None = None) -> Params:
    """An OAuth2Request from a FastAPI request: query (GET) or form (POST) parameters, or ``fields``."""
    if fields is not None:
        data, datalist = dict(fields), {k: [v] for k, v in fields.items()}
    elif request.method == "GET":
        data, datalist = dict(request.query_params), {k: request.query_params.getlist(k)
                                                      for k in request.query_params}
    else:
        form = await request.form()
        data = {k: v for k, v in form.items() if isinstance(v, str)}
        datalist = {k: [v for v in form.getlist(k) if isinstance(v, str)] for k in form}
    # Starlette's headers: case-insensitive, as Authlib asks for "Authorization".
    return Params(request.method, _transport_uri(request), request.headers, data, datalist)


def server_for(app: FastAPI) -> Provider:
    server = getattr(app.state, "oidc", None)
    if server is None:
        server = app.state.oidc = Provider(app.state.engine, app.state.settings)
    return server


# --- routes on the main app ---
@router.get("/.well-known/openid-configuration")
async def discovery(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    base = issuer(settings)
    return JSONResponse({
        "issuer": base,
        "authorization_endpoint": account_url(settings) + AUTHORIZE_PATH,
        "token_endpoint": base + PATHS["token"],
        "userinfo_endpoint": base + PATHS["userinfo"],
        "revocation_endpoint": base + PATHS["revocation"],
        "jwks_uri": base + PATHS["jwks"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": [d.ALG],
        "token_endpoint_auth_methods_supported": list(d.AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
        "revocation_endpoint_auth_methods_supported": list(d.AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": list(d.SCOPES),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr", "name",
                             "email"],
    })


@router.get(PATHS["jwks"])
async def jwks(request: Request) -> JSONResponse:
    with session_scope(request.app.state.engine) as s:
        keys = records.public_jwks(s)
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})


@router.post(PATHS["token"])
async def token(request: Request) -> Response:
    oauth_request = await request_for(request)
    response = await asyncio.to_thread(server_for(request.app).create_token_response, oauth_request)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post(PATHS["revocation"])
async def revoke(request: Request) -> Response:
    oauth_request = await request_for(request)
    return await asyncio.to_thread(server_for(request.app).create_endpoint_response, "revocation", oauth_request)


@router.get(PATHS["userinfo"], operation_id="userinfo_get")
@router.post(PATHS["userinfo"], operation_id="userinfo_post")  # RFC 6750 allows the token in a form body
async def userinfo(request: Request) -> Response:
    oauth_request = await request_for(request)
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokens(request.app.state.engine))
    try:
        found = await asyncio.to_thread(protector.validate_request, ["openid"], oauth_request)
    except OAuth2Error as error:  # answered as RFC 6750 says (WWW-Authenticate)
        return server_for(request.app).handle_response(*error())
    claims = await asyncio.to_thread(user_info, request.app.state.engine, request.app.state.settings,
                                     found.row.login_user_id, found.row.scope)
    return JSONResponse(claims, headers={"Cache-Control": "no-store"})


# --- the tenant API: its OpenID Connect clients ---
class NewClient(BaseModel):
    redirect_uris: list[str]
    name: str = ""
    scopes: str = "openid profile email"
    auth_method: str = "client_secret_basic"
    jwks: dict[str, Any] | None = None


def client_json(row: OidcClient, secret: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"client_id": row.client_id, "name": row.name, "redirect_uris": row.redirect_uris,
                            "scopes": row.scopes, "token_endpoint_auth_method": row.auth_method,
                            "created_at": row.created_at.isoformat()}
    if secret:
        data["client_secret"] = secret  # shown once
    return data


@router.post("/api/v1/clients", status_code=201)
async def add_client(request: Request, body: NewClient, tenant: Tenant) -> Response:
    with session_scope(request.app.state.engine) as s:
        try:
            row, secret = records.add_client(s, tenant.id, body.redirect_uris, name=body.name, scopes=body.scopes,
                                             auth_method=body.auth_method, jwks=body.jwks, actor=tenant.actor)
        except records.ClientRefused as refused:
            return invalid(request, [{"field": refused.field, "message": messages(request)(refused.key)}])
        return JSONResponse(client_json(row, secret), status_code=201, headers={"Cache-Control": "no-store"})


@router.get("/api/v1/clients")
async def list_clients(request: Request, tenant: Tenant) -> JSONResponse:
    with session_scope(request.app.state.engine) as s:
        return JSONResponse([client_json(row) for row in records.clients_of(s, tenant.id)])
