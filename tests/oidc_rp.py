"""A small tenant website for the OpenID Connect tests: a real relying party (Authlib's httpx client for
the protocol, joserfc to validate the ID token), served by uvicorn on the test's event loop.

``/login`` sends the browser to certdesk with state, nonce and a PKCE S256 challenge; ``/callback``
exchanges the code and validates the ID token (signature by the JWKS, iss, aud, exp, nonce) and
shows who logged in. ``/login?hold=1`` keeps the code unexchanged for the tests that misuse it.
"""

from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.jwk import KeySet

from certdesk.servers import embedded_server


@dataclass
class Login:
    """What the website got from one login."""

    code: str
    verifier: str
    nonce: str
    token: dict[str, Any] | None = None
    claims: dict[str, Any] | None = None
    header: dict[str, Any] | None = None
    error: str = ""


@dataclass
class RelyingParty:
    issuer: str
    client_id: str
    client_secret: str
    base_url: str
    config: dict[str, Any] = field(default_factory=dict)
    logins: list[Login] = field(default_factory=list)
    _pending: dict[str, tuple[str, str, bool]] = field(default_factory=dict)

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/callback"

    def oauth(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(self.client_id, self.client_secret, scope="openid profile email",
                                 redirect_uri=self.redirect_uri, code_challenge_method="S256")

    async def discover(self) -> None:
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"{self.issuer}/.well-known/openid-configuration")
            answer.raise_for_status()
            self.config = answer.json()

    async def jwks(self) -> KeySet:
        async with httpx.AsyncClient() as http:
            return KeySet.import_key_set((await http.get(self.config["jwks_uri"])).json())

    async def validate(self, id_token: str, nonce: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The ID token's header and claims, checked as OpenID Connect Core 3.1.3.7 asks."""
        token = jwt.decode(id_token, await self.jwks(), algorithms=self.config["id_token_signing_alg_values_supported"])
        jwt.JWTClaimsRegistry(iss={"essential": True, "value": self.issuer},
                              aud={"essential": True, "value": self.client_id},
                              nonce={"essential": True, "value": nonce},
                              sub={"essential": True}, auth_time={"essential": True},
                              exp={"essential": True}).validate(token.claims)
        return dict(token.header), dict(token.claims)

    async def exchange(self, code: str, verifier: str | None) -> dict[str, Any]:
        """The token endpoint's answer for ``code``; raises authlib's OAuthError when refused."""
        async with self.oauth() as client:
            extra = {"code_verifier": verifier} if verifier is not None else {}
            return dict(await client.fetch_token(self.config["token_endpoint"], code=code, **extra))

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/login")
        async def login(hold: int = 0) -> Response:
            verifier, nonce = generate_token(48), generate_token(20)
            async with self.oauth() as client:
                url, state = client.create_authorization_url(self.config["authorization_endpoint"],
                                                             code_verifier=verifier, nonce=nonce)
            self._pending[state] = (verifier, nonce, bool(hold))
            return RedirectResponse(url, status_code=302)

        @app.get("/callback", response_class=HTMLResponse)
        async def callback(request: Request) -> Response:
            params = request.query_params
            pending = self._pending.pop(params.get("state", ""), None)
            if pending is None:
                return HTMLResponse("<p id='result'>unknown state</p>", status_code=400)
            verifier, nonce, hold = pending
            login = Login(params.get("code", ""), verifier, nonce, error=params.get("error", ""))
            self.logins.append(login)
            if login.error or hold:
                return HTMLResponse(f"<p id='result'>{login.error or 'held'}</p>")
            login.token = await self.exchange(login.code, verifier)
            login.header, login.claims = await self.validate(login.token["id_token"], nonce)
            return HTMLResponse(f"<p id='result'>welcome {login.claims['sub']}</p>")

        return app

    def server(self, port: int) -> uvicorn.Server:
        return embedded_server(uvicorn.Config(self.app(), host="127.0.0.1", port=port, log_level="warning",
                                              lifespan="off"))
