"""Errors a person meets on the password change page and the desk login: in the page's language,
next to the field they are about, and named by the field's label above the form."""

import pytest
from markupsafe import escape

from domain.messages import catalogue
from tests import test_application_pages as base
from tests.test_application_pages import Pages, _csrf

pages = base.pages  # the fixture
JA, EN = catalogue("ja"), catalogue("en")
CURRENT = "a much better passphrase"  # the customer's password (tests/test_application_pages.py)


def _err(field: str, text: str) -> str:
    return f'<span class="field-error" id="f-{field}-err">{escape(text)}</span>'


@pytest.mark.parametrize(("new", "confirm", "current", "field", "key"), [
    ("short", "short", CURRENT, "new_password", "err_password_too_short"),
    ("a fresh and long passphrase", "another long passphrase", CURRENT, "new_password_confirm",
     "err_passwords_differ"),
    ("a fresh and long passphrase", "a fresh and long passphrase", "wrong password", "current_password",
     "err_current_password_wrong"),
])
async def test_password_rules_are_said_next_to_their_field(pages: Pages, new: str, confirm: str, current: str,
                                                           field: str, key: str) -> None:
    csrf = await _csrf(pages.customer)
    for lang, t in (("ja", JA), ("en", EN)):
        page = await pages.customer.post(f"/account/password?lang={lang}", data={
            "csrf_token": csrf, "current_password": current, "new_password": new, "new_password_confirm": confirm})
        assert page.status_code == 422
        text = t[key].format(min=12, max=128)
        assert _err(field, text) in page.text
        assert f'<a href="#f-{field}">{escape(t[field])}</a>' in page.text
        assert f'id="f-{field}" name="{field}"' in page.text


async def test_the_desk_login_says_which_field_is_missing_or_too_long(pages: Pages) -> None:
    desk = pages.staff
    for lang, t in (("ja", JA), ("en", EN)):
        empty = await desk.post(f"/desk/login?lang={lang}", data={"username": "", "password": ""},
                                headers={"authorization": ""})
        assert empty.status_code == 422
        assert _err("username", t["val_missing"]) in empty.text and _err("password", t["val_missing"]) in empty.text
        assert f'<a href="#f-username">{escape(t["username"])}</a>' in empty.text
        long = await desk.post(f"/desk/login?lang={lang}", data={"username": "sato", "password": "x" * 300},
                               headers={"authorization": ""})
        assert long.status_code == 422
        assert _err("password", t["val_string_too_long"].format(max_length=128)) in long.text
        assert 'id="f-username-err"' not in long.text
