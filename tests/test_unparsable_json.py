"""A body that is not JSON at all is named as the body, in the person's language."""

import httpx
from sqlalchemy import Engine

from api.app import create_app
from domain import messages
from domain.settings import Settings


async def test_unparsable_json_names_the_body(settings: Settings, engine: Engine) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)),
                                 base_url="http://x.test") as http:
        for lang in ("ja", "en"):
            r = await http.post("/api/v1/session", content=b'{"access_key": ', headers={
                "content-type": "application/json", "accept-language": lang})
            assert r.status_code == 422
            assert r.json()["fields"] == [{"field": "body", "message": messages.catalogue(lang)["val_json_invalid"]}]
