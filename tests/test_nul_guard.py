"""A NUL character never reaches a query (PostgreSQL's text cannot hold one): 422 naming the field."""

import httpx
from sqlalchemy import Engine

from api.app import create_app
from domain.settings import Settings
from store import accounts

PASSWORD = "correct horse battery"


async def test_a_nul_anywhere_is_named_and_refused(settings: Settings, engine: Engine) -> None:
    accounts.create_staff(engine, "sato", "supervisor", password=PASSWORD)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)),
                                 base_url="http://x.test") as http:
        staff = (await http.post("/api/v1/staff/session", json={"username": "sato", "password": PASSWORD})).json()
        bearer = {"authorization": f"Bearer {staff['token']}"}
        for method, path, kw, field in (
            ("POST", "/api/v1/staff/session", {"json": {"username": "sa\x00to", "password": PASSWORD}}, "username"),
            ("GET", "/api/v1/audit?subject=customer%3A1%00", {"headers": bearer}, "subject"),
            ("POST", "/api/v1/tasks/1/assign", {"json": {"username": "x\x00"}, "headers": bearer}, "username"),
            ("GET", "/api/v1/login-users/u%00", {"headers": bearer}, "user_id"),
        ):
            r = await http.request(method, path, **kw)
            assert r.status_code == 422, (path, r.status_code, r.text)
            assert [f["field"] for f in r.json()["fields"]] == [field], r.json()
        page = await http.post("/desk/login", data={"username": "sa\x00to", "password": PASSWORD},
                               headers={"accept": "text/html", "origin": "http://x.test"})
        assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
