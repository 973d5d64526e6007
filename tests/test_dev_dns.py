"""/dev/dns: the development DNS zone and website files of ``certdesk up`` (certdesk/dev_network.py).

The zone is served by the real loopback DNS server and asked with dnspython, as the CA's look-ups
(activities/lookups.py) ask it; the page and its JSON twin are the app as ``certdesk up`` builds it.
"""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import httpx
import pytest
from markupsafe import escape

from activities import lookups
from api.app import create_app
from api.dev_dns import DevNetwork
from certdesk import dev_network
from certdesk.dev_network import serve_dev_network
from domain import messages
from domain.settings import Settings


def _settings(data_dir: Path, **extra: object) -> Settings:
    # As `certdesk up` reads them: no resolver configured (so the zone becomes the resolver).
    return Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'certdesk.db'}", **extra)  # type: ignore[arg-type]


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[Settings, DevNetwork]]:
    with serve_dev_network(_settings(tmp_path)) as served:
        yield served


@pytest.fixture
async def http(dev: tuple[Settings, DevNetwork]) -> AsyncIterator[httpx.AsyncClient]:
    settings, network = dev
    app = create_app(settings, dev_network=network)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as client:
        yield client


def ask(address: str | None, name: str, rtype: str) -> list[str]:
    """What the DNS server at ``address`` answers, over UDP, as zone-file text."""
    assert address
    host, port = address.split(":")
    reply = dns.query.udp(dns.message.make_query(name, rtype), host, port=int(port), timeout=2)
    assert reply.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)
    return sorted(rdata.to_text() for rrset in reply.answer for rdata in rrset if rrset.rdtype.name == rtype)


def t(lang: str, key: str) -> str:
    return messages.translator(lang)(key)


def test_certdesk_up_points_the_resolver_and_the_file_fetch_at_its_loopback_servers(
        dev: tuple[Settings, DevNetwork]) -> None:
    settings, network = dev
    assert settings.dns_resolver == network.zone.address and settings.dns_resolver.startswith("127.0.0.1:")
    assert settings.dcv_http_port == network.site.port != 80


def test_an_explicit_resolver_and_port_are_left_alone(tmp_path: Path) -> None:
    with serve_dev_network(_settings(tmp_path, dns_resolver="127.0.0.1:9")) as (settings, network):
        assert settings.dns_resolver == "127.0.0.1:9" and settings.dcv_http_port == 80
        assert network.zone.address and network.zone.address != "127.0.0.1:9"  # still served, for /dev/dns
    port = _free_port()
    with serve_dev_network(_settings(tmp_path, dcv_http_port=port)) as (settings, network):
        assert network.site.port == settings.dcv_http_port == port


def _free_port() -> int:
    from tests.conftest import free_port

    return free_port()


async def test_records_added_on_the_page_and_as_json_are_answered_and_deleted(
        http: httpx.AsyncClient, dev: tuple[Settings, DevNetwork]) -> None:
    address = dev[1].zone.address
    page = await http.get("/dev/dns")
    assert page.status_code == 200 and "開発用DNS" in page.text and t("ja", "dev_dns_no_records") in page.text

    added = await http.post("/dev/dns/add", data={"name": "_certdesk-challenge.Example.COM.", "type": "TXT",
                                                  "value": "random-abc123"})
    assert added.status_code == 303 and added.headers["location"] == "/dev/dns?done=record_added"
    page = await http.get("/dev/dns?done=record_added")
    assert "_certdesk-challenge.example.com" in page.text and t("ja", "dev_done_record_added") in page.text
    assert ask(address, "_certdesk-challenge.example.com", "TXT") == ['"random-abc123"']

    for record in ({"name": "example.com", "type": "CAA", "value": '0 issue "certdesk.example"'},
                   {"name": "example.com", "type": "caa", "value": "128 tbs unknown"},
                   {"name": "example.com", "type": "MX", "value": "10 mail.example.com."},
                   {"name": "www.example.com", "type": "A", "value": "127.0.0.1"},
                   {"name": "alias.example.com", "type": "CNAME", "value": "www.example.com"}):
        answer = await http.post("/dev/dns/records", json=record)
        assert answer.status_code == 201 and answer.json()["added"] is True, answer.text
    again = await http.post("/dev/dns/records", json={"name": "www.example.com", "type": "A", "value": "127.0.0.1"})
    assert again.status_code == 200 and again.json()["added"] is False  # not twice

    assert ask(address, "example.com", "CAA") == ['0 issue "certdesk.example"', '128 tbs "unknown"']
    assert ask(address, "example.com", "MX") == ["10 mail.example.com."]
    assert ask(address, "alias.example.com", "A") == ["127.0.0.1"]  # through the CNAME
    listed = (await http.get("/dev/dns/records")).json()
    assert {"name": "example.com", "type": "MX", "value": "10 mail.example.com"} in listed and len(listed) == 6

    gone = await http.delete("/dev/dns/records", params={"name": "example.com", "type": "CAA",
                                                         "value": '128 tbs "unknown"'})
    assert gone.status_code == 204
    assert ask(address, "example.com", "CAA") == ['0 issue "certdesk.example"']
    assert (await http.delete("/dev/dns/records", params={"name": "example.com", "type": "CAA",
                                                          "value": '128 tbs "unknown"'})).status_code == 404
    deleted = await http.post("/dev/dns/delete", data={"name": "example.com", "type": "MX",
                                                       "value": "10 mail.example.com"})
    assert deleted.status_code == 303 and ask(address, "example.com", "MX") == []


async def test_a_txt_record_put_on_the_page_is_what_the_dcv_lookup_sees(
        http: httpx.AsyncClient, dev: tuple[Settings, DevNetwork]) -> None:
    settings = dev[0]
    name = f"{settings.dcv_label}.shop.example.jp"
    assert lookups.txt_records(name, settings.dns_resolver, 2) == []
    await http.post("/dev/dns/add", data={"name": name, "type": "TXT", "value": "k3Jd9-value"})
    assert lookups.txt_records(name, settings.dns_resolver, 2) == ["k3Jd9-value"]
    await http.post("/dev/dns/records", json={"name": name, "type": "TXT", "value": "値も"})
    assert sorted(lookups.txt_records(name, settings.dns_resolver, 2)) == ["k3Jd9-value", "値も"]
    await http.post("/dev/dns/add", data={"name": "shop.example.jp", "type": "CAA",
                                          "value": "0 issue certdesk.example"})
    assert [(r.flags, r.tag, r.value) for r in lookups.caa_records("shop.example.jp", settings.dns_resolver, 2)] \
        == [(0, "issue", "certdesk.example")]


async def test_a_file_put_on_the_page_is_what_the_website_fetch_gets(
        http: httpx.AsyncClient, dev: tuple[Settings, DevNetwork]) -> None:
    settings, network = dev
    put = await http.post("/dev/dns/files/add", data={"domain": "www.shop.example.jp", "file": "certdesk.txt",
                                                      "content": "k3Jd9-value"})
    assert put.status_code == 303
    # The file's domain got an A record 127.0.0.1, so the CA's fetch (through its resolver) reaches the dev server.
    assert ask(network.zone.address, "www.shop.example.jp", "A") == ["127.0.0.1"]
    fetched = lookups.fetch_validation_file("www.shop.example.jp", "/.well-known/pki-validation/certdesk.txt",
                                            settings.dcv_http_port, 2, settings.dns_resolver)
    assert (fetched.status, fetched.body) == (200, b"k3Jd9-value")
    page = await http.get("/dev/dns?lang=en")
    assert "http://www.shop.example.jp/.well-known/pki-validation/certdesk.txt" in page.text
    # Another name on the same server does not get this domain's file.
    await http.post("/dev/dns/records", json={"name": "other.example.jp", "type": "A", "value": "127.0.0.1"})
    other = lookups.fetch_validation_file("other.example.jp", "/.well-known/pki-validation/certdesk.txt",
                                          settings.dcv_http_port, 2, settings.dns_resolver)
    assert other.status == 404
    # A file dropped by hand under {data_dir}/dev-www is served too.
    dropped = settings.data_dir / "dev-www" / "other.example.jp" / ".well-known" / "pki-validation" / "x.txt"
    dropped.parent.mkdir(parents=True)
    dropped.write_text("by hand")
    by_hand = lookups.fetch_validation_file("other.example.jp", "/.well-known/pki-validation/x.txt",
                                            settings.dcv_http_port, 2, settings.dns_resolver)
    assert by_hand.body == b"by hand"
    listed = (await http.get("/dev/dns/files")).json()
    assert {"domain": "other.example.jp", "file": "x.txt", "content": "by hand"} in listed
    assert (await http.delete("/dev/dns/files", params={"domain": "other.example.jp", "file": "x.txt"})).status_code \
        == 204
    assert not dropped.exists()
    assert (await http.post("/dev/dns/files/delete", data={"domain": "www.shop.example.jp",
                                                           "file": "certdesk.txt"})).status_code == 303
    assert (await http.get("/dev/dns/files")).json() == []


BAD_RECORDS = [
    ({"name": "bad name!.example", "type": "TXT", "value": "x"}, "name", "dev_err_name"),
    ({"name": "", "type": "TXT", "value": "x"}, "name", "dev_err_name_missing"),
    ({"name": "例え.jp", "type": "TXT", "value": "x"}, "name", "dev_err_name_ascii"),
    ({"name": "example.com", "type": "SRV", "value": "x"}, "type", "dev_err_type"),
    ({"name": "example.com", "type": "CAA", "value": "issue certdesk.example"}, "value", "dev_err_caa_format"),
    ({"name": "example.com", "type": "CAA", "value": "300 issue certdesk.example"}, "value", "dev_err_caa_flags"),
    ({"name": "example.com", "type": "CAA", "value": '0 is-sue "x"'}, "value", "dev_err_caa_tag"),
    ({"name": "example.com", "type": "CAA", "value": '0 issue "bad ca!"'}, "value", "dev_err_caa_value"),
    ({"name": "example.com", "type": "A", "value": "999.1.1.1"}, "value", "dev_err_a"),
    ({"name": "example.com", "type": "MX", "value": "mail.example.com"}, "value", "dev_err_mx"),
    ({"name": "example.com", "type": "TXT", "value": "  "}, "value", "dev_err_value_missing"),
]


@pytest.mark.parametrize(("form", "field", "key"), BAD_RECORDS)
async def test_bad_input_is_explained_next_to_its_field_and_nothing_is_added(
        http: httpx.AsyncClient, dev: tuple[Settings, DevNetwork], form: dict[str, str], field: str,
        key: str) -> None:
    for lang in ("ja", "en"):
        page = await http.post(f"/dev/dns/add?lang={lang}", data=form)
        assert page.status_code == 422
        assert f'<span class="field-error" id="e-{field}" role="alert">{escape(t(lang, key))}</span>' in page.text
        assert 'aria-describedby="e-' + field + '"' in page.text
        # What the person typed is still there, to correct.
        assert f'value="{escape(form["name"])}"' in page.text and f'value="{escape(form["value"])}"' in page.text
    answer = await http.post("/dev/dns/records", json=form, headers={"accept-language": "en"})
    assert answer.status_code == 422
    assert answer.json()["fields"] == [{"field": field, "message": t("en", key)}]
    assert (await http.get("/dev/dns/records")).json() == []


async def test_a_cname_does_not_share_its_name(http: httpx.AsyncClient) -> None:
    await http.post("/dev/dns/records", json={"name": "www.example.com", "type": "A", "value": "127.0.0.1"})
    page = await http.post("/dev/dns/add", data={"name": "www.example.com", "type": "CNAME", "value": "example.com"})
    assert page.status_code == 422 and t("ja", "dev_err_cname_conflict") in page.text
    assert [r["type"] for r in (await http.get("/dev/dns/records")).json()] == ["A"]


async def test_bad_file_input_is_explained_next_to_its_field(http: httpx.AsyncClient) -> None:
    page = await http.post("/dev/dns/files/add?lang=en", data={"domain": "www.example.com", "file": "../../etc/x",
                                                               "content": "v"})
    assert page.status_code == 422 and t("en", "dev_err_file") in page.text and 'id="e-file"' in page.text
    page = await http.post("/dev/dns/files/add?lang=ja", data={"domain": "-bad-.example", "file": "a.txt",
                                                               "content": "v"})
    assert page.status_code == 422 and t("ja", "dev_err_name") in page.text and 'id="e-domain"' in page.text
    assert (await http.get("/dev/dns/files")).json() == []


async def test_a_form_posted_from_another_site_changes_nothing(http: httpx.AsyncClient) -> None:
    refused = await http.post("/dev/dns/add", data={"name": "x.example", "type": "A", "value": "10.0.0.1"},
                              headers={"origin": "https://evil.example"})
    assert refused.status_code == 403 and (await http.get("/dev/dns/records")).json() == []


async def test_the_zone_survives_a_restart(tmp_path: Path) -> None:
    with serve_dev_network(_settings(tmp_path)) as (settings, network):
        app = create_app(settings, dev_network=network)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            await client.post("/dev/dns/records", json={"name": "_certdesk-challenge.example.com", "type": "TXT",
                                                        "value": "kept"})
            await client.post("/dev/dns/records", json={"name": "example.com", "type": "MX",
                                                        "value": "5 mx.example.com"})
            await client.post("/dev/dns/records", json={"name": "example.com", "type": "CAA",
                                                        "value": '0 issuewild ";"'})
    assert (tmp_path / "dev-dns.json").is_file()
    with serve_dev_network(_settings(tmp_path)) as (_, network):
        assert ask(network.zone.address, "_certdesk-challenge.example.com", "TXT") == ['"kept"']
        assert ask(network.zone.address, "example.com", "MX") == ["5 mx.example.com."]
        assert ask(network.zone.address, "example.com", "CAA") == ['0 issuewild ";"']


async def test_not_there_in_production_nor_without_certdesk_up(tmp_path: Path,
                                                               dev: tuple[Settings, DevNetwork]) -> None:
    settings, network = dev
    assert not dev_network.enabled(settings.model_copy(update={"production": True}))
    for app in (create_app(settings.model_copy(update={"production": True}), dev_network=network),
                create_app(settings)):  # the web process of a deployment has no development network
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/dev/dns")).status_code == 404
            assert (await client.get("/dev/dns/records")).status_code == 404
            assert (await client.post("/dev/dns/records", json={"name": "a.example", "type": "A",
                                                                "value": "127.0.0.1"})).status_code in (404, 405)
            assert "/dev/dns" not in (await client.get("/")).text
    app = create_app(settings, dev_network=network)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert 'href="/dev/dns"' in (await client.get("/")).text
