"""The end user's account pages (L-2), served where the login certificate is presented.

``create_account_app`` is a separate app: in production the TLS terminator that asks for
client certificates routes to it; ``certdesk up`` serves it on its local HTTPS port.
"""

from fastapi import FastAPI

from domain.settings import Settings, load_settings


def create_account_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    app = FastAPI(title="certdesk account", version="0.1.0")
    app.state.settings = settings
    return app
