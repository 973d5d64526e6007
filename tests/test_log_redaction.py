"""A link's token never reaches the access log, whichever way the app is served."""

import logging

import httpx
import pytest
from sqlalchemy import Engine

from api.app import create_app
from api.log_redaction import redact
from domain.settings import Settings


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/enroll/s3cr3tT0ken", "/enroll/…"),
        ("/enroll/s3cr3tT0ken/secret", "/enroll/…/secret"),
        ("/api/v1/enroll/s3cr3tT0ken/otp?x=1", "/api/v1/enroll/…/otp?x=1"),
        ("/dcv/s3cr3tT0ken", "/dcv/…"),
        ("/api/v1/dcv/s3cr3tT0ken", "/api/v1/dcv/…"),
        ("/download/s3cr3tT0ken", "/download/…"),
        ("/api/v1/downloads/s3cr3tT0ken", "/api/v1/downloads/…"),
        ("/reissue/s3cr3tT0ken", "/reissue/…"),
        ("/api/v1/reissue/s3cr3tT0ken/answer", "/api/v1/reissue/…/answer"),
        ("/account/applications/12", "/account/applications/12"),
        ("/desk/tasks/3", "/desk/tasks/3"),
    ],
)
def test_redact(path: str, logged: str) -> None:
    assert redact(path) == logged


async def test_the_access_logger_of_the_app_redacts(settings: Settings, engine: Engine,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    create_app(settings)
    logger = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/dcv/s3cr3tT0ken", "1.1", 404)
    assert "s3cr3tT0ken" not in caplog.text and "/dcv/…" in caplog.text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)),
                                 base_url="http://x.test") as http:
        assert (await http.get("/dcv/s3cr3tT0ken")).status_code == 404  # the page itself is unaffected
    assert len([f for f in logger.filters if type(f).__name__ == "RedactTokens"]) == 1  # installed once
