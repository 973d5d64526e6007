"""新規申請's form (S-2; manual 003 §2.1): the four contacts shown, editable and confirmed, a blank
contact kept blank (refused where required), サーバタイプ, the terms readable before agreeing, and
an error summary that names fields by their labels. On the dev stack (Temporal, the database)."""

import html
import re

from markupsafe import escape
from sqlalchemy import Engine
from sqlmodel import select

from domain.messages import catalogue
from store.db import session_scope
from store.models import Application, AuditEvent
from tests import test_application_pages as base
from tests.test_application_pages import Pages, _csrf, _form, _hidden
from tests.test_certificate_authority import make_csr

pages = base.pages  # the customer, another customer and staff on the dev stack (a fixture)
JA, EN = catalogue("ja"), catalogue("en")


def esc(text: str) -> str:
    return str(escape(text))  # as Jinja writes it
FULL_PROFILE = {
    "reseller_code": "R-1",
    "organization": {"name": "Example KK", "country": "JP", "state": "Tokyo", "locality": "Chiyoda-ku"},
    "contacts": {role: {"name": f"{role} person", "email": f"{role}@example.co.jp", "phone": "03-1234-5678"}
                 for role in ("registrant", "technical", "administrative", "contract")},
}


async def _save_full_profile(pages: Pages) -> None:
    saved = await pages.customer.put("/api/v1/account/profile", json=FULL_PROFILE,
                                     headers={"x-csrf-token": await _csrf(pages.customer)})
    assert saved.status_code == 200, saved.text


def _contacts(**given: str) -> dict[str, str]:
    """Form fields for the contacts: every role's fields blank unless given."""
    blank = {f"contacts.{r}.{f}": "" for r in ("registrant", "technical", "administrative", "contract")
             for f in ("name", "department", "postal_code", "address", "phone", "fax", "email")}
    return {**blank, **given}


async def test_all_four_contacts_are_shown_prefilled_and_confirmed(pages: Pages, engine: Engine) -> None:
    await _save_full_profile(pages)
    form = await pages.customer.get("/account/apply")
    assert form.status_code == 200
    for role in ("registrant", "technical", "administrative", "contract"):
        assert f'id="contact-{role}"' in form.text
        assert f'name="contacts.{role}.name" value="{role} person"' in form.text
    # The terms are on the form, and on their own page, before the agreement box.
    assert form.text.index('id="apply-terms"') < form.text.index('name="agree_terms"')
    assert esc(JA["apply_terms_2"]) in form.text and 'href="/account/apply/terms"' in form.text
    terms = await pages.customer.get("/account/apply/terms?lang=en")
    assert terms.status_code == 200 and esc(EN["apply_terms_4"]) in terms.text
    # サーバタイプ as a pull-down of the manual's server software.
    assert '<select id="f-server_type" name="server_type">' in form.text and '<option value="iis">' in form.text

    csrf = await _csrf(pages.customer)
    values = {**_form(csrf, make_csr("www.example.co.jp")), "server_type": "nginx",
              **{f"contacts.{r}.{f}": v for r, c in FULL_PROFILE["contacts"].items() for f, v in c.items()},
              "contacts.administrative.name": "事務 次郎"}
    confirm = await pages.customer.post("/account/apply/confirm", data=values)
    assert confirm.status_code == 200, confirm.text
    for role in ("registrant", "technical", "administrative", "contract"):
        assert f'id="confirm-{role}"' in confirm.text
    assert "事務 次郎" in confirm.text and "contract person" in confirm.text
    assert f'id="confirm-server-type">{JA["server_type_nginx"]}<' in confirm.text
    done = await pages.customer.post("/account/apply", data={**_hidden(confirm.text), "step": "apply"})
    assert done.status_code == 303, done.text
    app_id = int(re.search(r"/account/applications/(\d+)", done.headers["location"]).group(1))  # type: ignore[union-attr]
    with session_scope(engine) as s:
        app = s.get(Application, app_id)
        assert app is not None and app.server_type == "nginx"
        assert sorted(app.contacts) == ["administrative", "contract", "registrant", "technical"]
        assert app.contacts["administrative"]["name"] == "事務 次郎"
        received = s.exec(select(AuditEvent).where(AuditEvent.subject == f"application:{app_id}",
                                                   AuditEvent.action == "application.received")).one()
        assert received.details["terms"]  # which 利用規約 was agreed to


async def test_a_blanked_contact_stays_blank_and_a_required_one_is_refused(pages: Pages, engine: Engine) -> None:
    await _save_full_profile(pages)
    csrf = await _csrf(pages.customer)
    profile = FULL_PROFILE["contacts"]
    given = {f"contacts.{r}.{f}": v for r in ("registrant", "technical") for f, v in profile[r].items()}
    values = {**_form(csrf, make_csr("shop.example.co.jp")), **_contacts(**given)}
    confirm = await pages.customer.post("/account/apply/confirm", data=values)
    assert confirm.status_code == 200, confirm.text
    assert "administrative person" not in confirm.text and "contract person" not in confirm.text
    assert f'id="confirm-contract">{JA["profile_role_contract"]} {JA["apply_contact_blank"]}<' in confirm.text
    done = await pages.customer.post("/account/apply", data={**_hidden(confirm.text), "step": "apply"})
    assert done.status_code == 303, done.text
    app_id = int(re.search(r"/account/applications/(\d+)", done.headers["location"]).group(1))  # type: ignore[union-attr]
    with session_scope(engine) as s:
        app = s.get(Application, app_id)
        assert app is not None and sorted(app.contacts) == ["registrant", "technical"]  # not brought back

    # The registrant blanked: refused next to its name, the summary names the field by its label.
    without = {**values, **_contacts(**{k: v for k, v in given.items() if ".technical." in k})}
    for lang, t in (("ja", JA), ("en", EN)):
        refused = await pages.customer.post(f"/account/apply/confirm?lang={lang}", data=without)
        assert refused.status_code == 422
        message = esc(t["apply_contact_required"].format(role=t["profile_role_registrant"]))
        assert f'<span class="field-error" id="f-contacts-registrant-name-err">{message}</span>' in refused.text
        label = esc(f'{t["profile_role_registrant"]} {t["profile_contact_name"]}')
        assert f'<a href="#f-contacts-registrant-name">{label}</a>' in refused.text
        assert ">contacts.registrant.name<" not in refused.text
    with session_scope(engine) as s:
        assert len(s.exec(select(Application)).all()) == 1  # nothing more stored


async def test_the_error_summary_names_every_field_by_its_label(pages: Pages) -> None:
    csrf = await _csrf(pages.customer)
    bad = {**_form(csrf, "typed csr"), "agree_terms": "", "server_type": "gopher",
           "contacts.technical.email": "not an address"}
    for lang, t in (("ja", JA), ("en", EN)):
        page = await pages.customer.post(f"/account/apply/confirm?lang={lang}", data=bad)
        assert page.status_code == 422
        summary = page.text[page.text.index('id="apply-errors"'):page.text.index("</ul>")]
        links = re.findall(r'<a href="#f-([^"]+)">([^<]+)</a>', summary)
        assert [a for a, _ in links] == ["agree_terms", "csr", "server_type", "contacts-technical-email"]
        assert [html.unescape(label) for _, label in links] == [
            t["app_step_terms"], t["app_csr"], t["apply_server_type"],
            f'{t["profile_role_technical"]} {t["profile_contact_email"]}']
        assert f'id="f-server_type-err">{esc(t["apply_server_type_invalid"])}<' in page.text


async def test_the_api_still_takes_contacts_from_the_saved_profile(pages: Pages, engine: Engine) -> None:
    await _save_full_profile(pages)
    csrf = await _csrf(pages.customer)
    body = {"product": "ov", "agree_terms": True, "csr": make_csr("api.example.co.jp"), "server_type": "iis",
            "organization": FULL_PROFILE["organization"]}
    made = await pages.customer.post("/api/v1/applications", json=body, headers={"x-csrf-token": csrf})
    assert made.status_code == 201, made.text
    with session_scope(engine) as s:
        app = s.get(Application, made.json()["id"])
        assert app is not None and len(app.contacts) == 4 and app.server_type == "iis"
    wrong = await pages.customer.post("/api/v1/applications", json={**body, "server_type": "gopher"},
                                      headers={"x-csrf-token": csrf, "accept-language": "en"})
    assert wrong.status_code == 422
    assert wrong.json()["fields"] == [{"field": "server_type", "message": EN["apply_server_type_invalid"]}]
