"""「ダウンロードパスワードを忘れた」 in a real browser, in Japanese and in English (L-1, issue 15).

From the download page the mail links to, the person follows the forgot link, answers the secret
question wrongly once (the message stands by the field, in the page's language, and nothing
changes), then rightly: a new download password is shown once, the old one is refused on the
download page, the new one downloads a PKCS#12 that opens with it, and a mail says the password
was reset without carrying it. Served as in tests/test_browser_enrollment.py: the app on this
event loop with a worker on the time-skipping server.
"""
# ruff: noqa: F811  (pytest fixtures imported by name; see tests/browser.py)

import asyncio
import os
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from playwright.async_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from ca import authority
from certdesk.worker import build_worker
from domain.messages import catalogue
from domain.settings import Settings
from store import accounts, dev_mailbox
from store.db import session_scope
from store.models import Enrollment
from tests.browser import browser, page  # noqa: F401
from tests.test_browser_enrollment import serve_here
from tests.test_login_certificates import download_url_of, token_of

pytestmark = pytest.mark.asyncio(loop_scope="session")

ANSWER = "Pochi"
PASSWORD = re.compile(r"^\w{5}-\w{5}-\w{5}-\w{5}$")
# (user, name, language, download mail's subject, reset mail's subject)
PEOPLE = [("u-3001", "山田 花子", "ja", "電子証明書ダウンロードのご案内",
           "証明書ダウンロード用パスワード再設定のお知らせ"),
          ("u-3002", "Hanako Yamada", "en", "Your login certificate is ready to download",
           "Your certificate download password was reset")]
# What must never reach a person: a stack trace, a server error, a library's English, JSON.
LEAKS = re.compile(r"Traceback|Internal Server Error|Field required|Input should|value is not a valid|\{\s*\"")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
JAPANESE = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")
JA_LATIN = {"English", "Web", "URL"}  # the language switch, and words the Japanese texts use themselves


async def assert_screen(page: Page, lang: str, secret: str = "") -> None:
    """An HTML page wholly in ``lang``: no JSON, no stack trace, no word of the other language."""
    assert await page.evaluate("document.contentType") == "text/html"
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    text = f"{await page.title()}\n{await page.locator('body').inner_text()}"
    assert not LEAKS.search(text), text
    text = text.replace(secret, "") if secret else text
    if lang == "ja":
        assert set(LATIN_WORD.findall(text)) <= JA_LATIN, text
    else:
        assert not JAPANESE.findall(text.replace("日本語", "")), text  # the switch back names itself


def download_hash(engine: Engine, user_id: str) -> str | None:
    with session_scope(engine) as s:
        return s.exec(select(Enrollment.download_password_hash).where(Enrollment.user_id == user_id)).one()


async def register(http: httpx.AsyncClient, invitation: dict[str, str]) -> str:
    """The OTP and the secret question through the JSON twins; the download password shown once."""
    token = token_of(invitation["enrollment_url"])
    otp = await http.post(f"/api/v1/enroll/{token}/otp", json={"one_time_password": invitation["one_time_password"]})
    assert otp.status_code == 200, otp.text
    secret = await http.post(f"/api/v1/enroll/{token}/secret", json={"question_id": "first_pet", "answer": ANSWER})
    assert secret.status_code == 200, secret.text
    return str(secret.json()["download_password"])


async def mail_to(env: WorkflowEnvironment, mail_dir: Path, user_id: str, subject: str) -> dev_mailbox.StoredMail:
    for _ in range(200):
        found = [m for m in dev_mailbox.list_mail(mail_dir) if m.subject == subject and user_id in m.recipients]
        if found:
            return found[0]
        await env.sleep(timedelta(seconds=1))
    raise AssertionError(f"no mail {subject!r} to {user_id}")


async def submit(page: Page, button: str) -> int:
    """Clicks the form's button; the status of the answer to its POST."""
    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await page.get_by_role("button", name=button, exact=True).click()
    return (await posted.value).status


async def test_a_forgotten_download_password_is_reset_in_japanese_and_english(
    page: Page, time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine,
    smtp_sink: tuple[int, Path], tmp_path: Path,
) -> None:
    env, mail_dir = time_skipping_env, smtp_sink[1]
    shots = os.environ.get("CERTDESK_SCREENSHOT_DIR")
    await asyncio.to_thread(authority.ensure_hierarchy, engine, settings)
    _, key = accounts.create_tenant(engine, "Example Shop")
    async with build_worker(env.client, settings), serve_here(create_app(settings, env.client)) as base:
        passwords = {}
        async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {key}"}) as http:
            for user_id, name, lang, _, _ in PEOPLE:
                invited = await http.post("/api/v1/enrollments", json={
                    "user_id": user_id, "email": f"{user_id}@example.jp", "name": name, "language": lang})
                assert invited.status_code == 201, invited.text
                passwords[user_id] = await register(http, invited.json())

        for user_id, name, lang, download_subject, reset_subject in PEOPLE:
            t, old = catalogue(lang), passwords[user_id]
            token = download_url_of(await mail_to(env, mail_dir, user_id, download_subject))
            heading = page.get_by_role("heading", level=1)

            # The download page from the mail (a Japanese browser); the English person switches.
            await page.goto(f"{base}/download/{token}")
            if lang == "en":
                await page.get_by_role("link", name="English", exact=True).click()
                await expect(page).to_have_url(f"{base}/download/{token}?lang=en")
            await expect(heading).to_have_text(t["eu_download_title"])
            await assert_screen(page, lang)
            await page.get_by_role("link", name=t["eu_forgot_link"]).click()
            await expect(page).to_have_url(re.compile(rf"/download/{re.escape(token)}/forgot"))
            await expect(heading).to_have_text(t["eu_forgot_title"])
            await expect(page.locator("#question")).to_have_text(t["question_first_pet"])
            await assert_screen(page, lang)

            # A wrong answer: the message by the field, the tries left, and nothing changed.
            before = download_hash(engine, user_id)
            answer = page.get_by_label(t["eu_answer_label"], exact=True)
            await answer.fill("Tama")
            assert await submit(page, t["eu_forgot_button"]) == 400
            error = page.locator("#answer-error")
            await expect(error).to_have_text(t["eu_err_answer_wrong"].format(left=4))
            await expect(answer).to_have_attribute("aria-invalid", "true")
            await expect(answer).to_have_attribute("aria-describedby", re.compile(r"\banswer-error\b"))
            await expect(answer).to_have_value("")  # nothing typed comes back
            await expect(heading).to_have_text(t["eu_forgot_title"])
            await assert_screen(page, lang)
            if shots:
                await page.screenshot(path=f"{shots}/enduser-forgot-wrong-{lang}.png", full_page=True)
            assert download_hash(engine, user_id) == before
            assert not [m for m in dev_mailbox.list_mail(mail_dir) if m.subject == reset_subject]

            # The right answer: a new password, shown once.
            await answer.fill(ANSWER)
            assert await submit(page, t["eu_forgot_button"]) == 200
            # p[role=status], not get_by_role("status"): the <output> holding the password is one too.
            await expect(page.locator("p[role=status]")).to_have_text(t["eu_password_reset_done"])
            shown = page.locator("#download-password")
            await expect(shown).to_have_text(PASSWORD)
            new = (await shown.text_content() or "").strip()
            assert new != old
            await expect(page.get_by_text(t["eu_password_memo"])).to_be_visible()
            await expect(page.get_by_text(t["eu_password_reset_mail"])).to_be_visible()
            await assert_screen(page, lang, secret=new)
            if shots:
                await page.screenshot(path=f"{shots}/enduser-forgot-reset-{lang}.png", full_page=True)
            assert download_hash(engine, user_id) != before

            # The mail says so, with the download URL and without either password.
            mail = await mail_to(env, mail_dir, user_id, reset_subject)
            assert f"/download/{token}" in mail.body and new not in mail.body and old not in mail.body

            # Back on the download page: the old password is refused, the new one downloads.
            await page.locator("#to-download").click()
            await expect(heading).to_have_text(t["eu_download_title"])
            field = page.get_by_label(t["eu_download_password_label"], exact=True)
            await field.fill(old)
            assert await submit(page, t["eu_download_button"]) == 400
            await expect(page.get_by_role("alert")).to_have_text(t["eu_err_download_wrong"].format(left=4))
            await assert_screen(page, lang)
            await field.fill(new)
            async with page.expect_download() as downloading:
                await page.get_by_role("button", name=t["eu_download_button"], exact=True).click()
            download = await downloading.value
            assert re.fullmatch(r"enr_\w+\.p12", download.suggested_filename)
            saved = tmp_path / f"{lang}.p12"
            await download.save_as(saved)
            data = saved.read_bytes()
            private_key, cert, _ = pkcs12.load_key_and_certificates(data, new.encode())
            assert private_key is not None and cert is not None
            assert cert.subject.rfc4514_string() == f"CN={name}"
            with pytest.raises(ValueError):
                pkcs12.load_key_and_certificates(data, old.encode())
