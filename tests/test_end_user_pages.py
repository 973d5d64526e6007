"""The end user's pages (L-1, L-3; manual sections 2, 3 and 5) on the time-skipping server.

The same steps as the JSON API (``api.end_user_steps``), seen as a person sees them: forms
that post, the message and status of each refusal, the download password shown once, and the
PKCS#12 as an attachment.
"""
# The fixture is imported by name, so every test taking it "redefines" it (F811).
# ruff: noqa: F811

import re
from datetime import timedelta
from pathlib import Path

import httpx

from tests.login_service import Service
from tests.test_login_certificates import download_url_of, open_pkcs12, register, token_of

PASSWORD = re.compile(r'id="download-password"[^>]*>(\w{5}-\w{5}-\w{5}-\w{5})<')
DOWNLOAD_MAIL = "電子証明書ダウンロードのご案内"


def private(page: httpx.Response) -> None:
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "same-origin"  # the token never leaves


def no_input_values(html: str) -> None:
    """Nothing typed ever comes back in a form: no input carries a value."""
    for tag in re.findall(r"<input\b[^>]*>", html):
        assert " value=" not in tag, tag
    assert 'type="hidden"' not in html


async def test_the_otp_form_speaks_japanese_and_english(service: Service) -> None:
    invitation = await service.invite()
    token = token_of(invitation["enrollment_url"])
    page = await service.http.get(f"/enroll/{token}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    private(page)
    assert '<html lang="ja">' in page.text
    assert "認証情報登録" in page.text and "ワンタイムパスワード" in page.text and ">次へ<" in page.text
    assert f'method="post" action="/enroll/{token}"' in page.text
    assert '<label for="one_time_password">' in page.text and 'autocomplete="one-time-code"' in page.text

    english = await service.http.get(f"/enroll/{token}?lang=en")
    assert '<html lang="en">' in english.text
    assert "One-time password" in english.text and ">Next<" in english.text
    assert f'action="/enroll/{token}?lang=en"' in english.text  # the choice travels with the form
    assert "ワンタイムパスワード" not in english.text
    service.http.cookies.clear()  # ?lang= is remembered in a cookie, like on every page
    by_header = await service.http.get(f"/enroll/{token}", headers={"accept-language": "en-US,en;q=0.9"})
    assert "One-time password" in by_header.text


async def test_a_wrong_otp_says_how_many_tries_are_left(service: Service) -> None:
    invitation = await service.invite()
    token = token_of(invitation["enrollment_url"])
    wrong = await service.http.post(f"/enroll/{token}", data={"one_time_password": "00000000"})
    assert wrong.status_code == 400
    private(wrong)
    assert 'role="alert"' in wrong.text
    assert "ワンタイムパスワードに誤りがあります" in wrong.text and "あと4回" in wrong.text
    assert "00000000" not in wrong.text
    no_input_values(wrong.text)
    assert 'name="one_time_password"' in wrong.text  # the form again

    english = await service.http.post(f"/enroll/{token}?lang=en", data={"one_time_password": "12345678"})
    assert english.status_code == 400 and "3 tries left" in english.text
    service.http.cookies.clear()
    empty = await service.http.post(f"/enroll/{token}", data={"one_time_password": " "})
    assert empty.status_code == 422 and "ワンタイムパスワードを入力してください" in empty.text
    for left in (2, 1):
        wrong = await service.http.post(f"/enroll/{token}", data={"one_time_password": "00000000"})
        assert f"あと{left}回" in wrong.text
    locked = await service.http.post(f"/enroll/{token}", data={"one_time_password": "00000000"})
    assert locked.status_code == 423 and "ロックされました" in locked.text
    assert 'name="one_time_password"' not in locked.text  # nothing left to try
    right = await service.http.post(f"/enroll/{token}", data={"one_time_password": invitation["one_time_password"]})
    assert right.status_code == 423 and "ロックされました" in right.text


async def test_otp_then_question_then_the_password_once_then_the_download(service: Service, tmp_path: Path) -> None:
    invitation = await service.invite(name="山田 太郎")
    token = token_of(invitation["enrollment_url"])
    early = await service.http.post(f"/enroll/{token}/secret", data={"question_id": "first_pet", "answer": "Pochi"})
    assert 'name="one_time_password"' in early.text and 'name="answer"' not in early.text  # the OTP comes first

    question = await service.http.post(f"/enroll/{token}", data={"one_time_password": invitation["one_time_password"]})
    assert question.status_code == 200, question.text
    private(question)
    assert f'action="/enroll/{token}/secret"' in question.text
    assert '<label for="question_id">' in question.text and '<label for="answer">' in question.text
    assert "初めて飼ったペットの名前は？" in question.text and ">登録<" in question.text
    assert invitation["one_time_password"] not in question.text
    no_input_values(question.text)
    # Opened again (a reload, another tab): the step it waits for, in the language asked for.
    again = await service.http.get(f"/enroll/{token}?lang=en")
    assert "What was the name of your first pet?" in again.text and "one-time password was accepted" in again.text
    service.http.cookies.delete("lang")
    # Someone else with the URL but not the OTP: the OTP form, and no way to set the question.
    async with httpx.AsyncClient(transport=service.http._transport, base_url=str(service.http.base_url)) as other:
        assert 'name="one_time_password"' in (await other.get(f"/enroll/{token}")).text
        hijack = await other.post(f"/enroll/{token}/secret", data={"question_id": "first_pet", "answer": "Mine"})
        assert hijack.status_code == 403 and "もう一度ワンタイムパスワードを入力" in hijack.text
        assert PASSWORD.search(hijack.text) is None

    bad = await service.http.post(f"/enroll/{token}/secret", data={"question_id": "nope", "answer": "Pochi"})
    assert bad.status_code == 422 and "秘密の質問を一覧から選択してください" in bad.text
    assert "Pochi" not in bad.text
    blank = await service.http.post(f"/enroll/{token}/secret", data={"question_id": "first_pet", "answer": "  "})
    assert blank.status_code == 422 and "秘密の質問答えを入力してください" in blank.text
    assert '<option value="first_pet" selected>' in blank.text  # the question (not secret) stays chosen

    shown = await service.http.post(f"/enroll/{token}/secret", data={"question_id": "first_pet", "answer": "Pochi"})
    assert shown.status_code == 200, shown.text
    private(shown)
    match = PASSWORD.search(shown.text)
    assert match, shown.text
    password = match.group(1)
    assert "メモをお取りください" in shown.text and DOWNLOAD_MAIL in shown.text
    assert "Pochi" not in shown.text and 'href="?lang=' not in shown.text  # no link that loses the password
    # Shown once, but an answer can be lost: the same browser sending the same step again gets the
    # same password (issue 15); with another answer, or from another browser, no password.
    resent = await service.http.post(f"/enroll/{token}/secret", data={"question_id": "first_pet", "answer": "Pochi"})
    assert resent.status_code == 200 and PASSWORD.search(resent.text).group(1) == password  # type: ignore[union-attr]
    other_answer = await service.http.post(f"/enroll/{token}/secret",
                                           data={"question_id": "first_pet", "answer": "Tama"})
    assert other_answer.status_code in (200, 409) and not PASSWORD.search(other_answer.text)
    assert "発行中" in other_answer.text or "登録は完了" in other_answer.text
    async with httpx.AsyncClient(transport=service.http._transport, base_url=str(service.http.base_url)) as other:
        stranger = await other.post(f"/enroll/{token}/secret", data={"question_id": "first_pet", "answer": "Pochi"})
        assert not PASSWORD.search(stranger.text) and "<form" not in stranger.text
    for _ in range(50):  # then the enrollment's page only says the mail is coming
        later = await service.http.get(f"/enroll/{token}")
        if "認証情報の登録は完了しています" in later.text:
            break
        await service.env.sleep(timedelta(seconds=1))
    assert later.status_code == 200 and "認証情報の登録は完了しています" in later.text
    assert password not in later.text and "<form" not in later.text
    reload = await service.http.get(f"/enroll/{token}/secret?lang=en")
    assert reload.status_code == 303 and reload.headers["location"] == f"/enroll/{token}?lang=en"
    service.http.cookies.clear()

    mail = await service.wait_for_mail(DOWNLOAD_MAIL)
    download_token = download_url_of(mail)
    assert f"{service.settings.resolved_public_url}/help/download" in mail.body
    form = await service.http.get(f"/download/{download_token}")
    assert form.status_code == 200 and "証明書ダウンロード用パスワード" in form.text and ">ダウンロード<" in form.text
    assert 'type="password"' in form.text and '<label for="download_password">' in form.text
    wrong = await service.http.post(f"/download/{download_token}", data={"download_password": "nope-nope"})
    assert wrong.status_code == 400 and "あと4回" in wrong.text and "nope-nope" not in wrong.text
    no_input_values(wrong.text)

    p12 = await service.http.post(f"/download/{download_token}", data={"download_password": password})
    assert p12.status_code == 200, p12.text
    assert p12.headers["content-type"] == "application/x-pkcs12"
    assert re.fullmatch(r'attachment; filename="enr_\w+\.p12"', p12.headers["content-disposition"])
    private(p12)
    cert = open_pkcs12(p12.content, password, tmp_path)
    assert cert.subject.rfc4514_string() == "CN=山田 太郎"

    # The same download again moments later (its answer lost): the same file. After the window: refused.
    again = await service.http.post(f"/download/{download_token}", data={"download_password": password})
    assert again.status_code == 200 and again.content == p12.content
    wrong_again = await service.http.post(f"/download/{download_token}", data={"download_password": "nope-nope"})
    assert wrong_again.status_code == 410 and "すでにダウンロードされています" in wrong_again.text
    await service.env.sleep(service.settings.answer_replay_window + timedelta(minutes=1))
    twice = await service.http.post(f"/download/{download_token}", data={"download_password": password})
    assert twice.status_code == 410 and "すでにダウンロードされています" in twice.text
    for _ in range(50):
        page = await service.http.get(f"/download/{download_token}")
        if page.status_code == 410:
            break
        await service.env.sleep(timedelta(seconds=1))
    assert page.status_code == 410 and 'name="download_password"' not in page.text


async def test_an_unknown_link_is_a_404_page(service: Service) -> None:
    invitation = await service.invite()
    token = token_of(invitation["enrollment_url"])
    forged = token.split(".")[0] + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    for path in ("/enroll/nope", f"/enroll/{forged}", "/enroll/nope/secret", "/download/nope", "/reissue/nope",
                 f"/reissue/{token}"):
        page = await service.http.get(path)
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html")
        assert "この URL は無効です" in page.text and "<form" not in page.text
    posted = await service.http.post("/enroll/nope", data={"one_time_password": "12345678"})
    assert posted.status_code == 404 and "この URL は無効です" in posted.text
    english = await service.http.post("/download/nope?lang=en", data={"download_password": "x"})
    assert english.status_code == 404 and "This link is not valid" in english.text
    service.http.cookies.clear()
    # A registration's link is not a download link until the certificate waits for it.
    not_yet = await service.http.get(f"/download/{token}")
    assert not_yet.status_code == 409 and "まだダウンロードできません" in not_yet.text


async def test_reissue_shows_the_question_and_refuses_wrong_answers(service: Service, tmp_path: Path) -> None:
    invitation = await service.invite()
    password = await register(service, invitation, answer="Tanaka")  # the first question: 母親の旧姓は？
    download_token = download_url_of(await service.wait_for_mail(DOWNLOAD_MAIL))
    assert (await service.http.post(f"/download/{download_token}", data={"download_password": password})
            ).status_code == 200
    serial = (await service.status(invitation["id"]))["certificate_serial"]
    started = await service.http.post(f"/api/v1/login-certificates/{serial}/reissue", headers=service.tenant,
                                      json={"revoke_old": "on_download"})
    assert started.status_code == 201, started.text
    guide = await service.wait_for_mail("証明書再発行手順のご案内")
    token = re.search(r"/reissue/(\S+)", guide.body).group(1)  # type: ignore[union-attr]

    page = await service.http.get(f"/reissue/{token}")
    assert page.status_code == 200
    private(page)
    assert "電子証明書の再発行" in page.text and "母親の旧姓は？" in page.text and ">送信<" in page.text
    assert '<label for="answer">' in page.text and f'action="/reissue/{token}"' in page.text
    assert "What is your mother&#39;s maiden name?" in (await service.http.get(f"/reissue/{token}?lang=en")).text
    service.http.cookies.clear()

    wrong = await service.http.post(f"/reissue/{token}", data={"answer": "Suzuki"})
    assert wrong.status_code == 400 and "秘密の質問答えが一致しません" in wrong.text and "あと4回" in wrong.text
    assert "Suzuki" not in wrong.text and "母親の旧姓は？" in wrong.text
    no_input_values(wrong.text)

    shown = await service.http.post(f"/reissue/{token}", data={"answer": " TANAKA "})
    assert shown.status_code == 200, shown.text
    private(shown)
    new_password = PASSWORD.search(shown.text).group(1)  # type: ignore[union-attr]
    assert new_password != password and "メモをお取りください" in shown.text
    for _ in range(50):  # the answer step is over (once the row follows the workflow)
        after = await service.http.get(f"/reissue/{token}")
        if "<form" not in after.text:
            break
        await service.env.sleep(timedelta(seconds=1))
    assert after.status_code == 200 and "秘密の質問答えは確認済みです" in after.text
    assert new_password not in after.text
    new_token = download_url_of(await service.wait_for_mail(DOWNLOAD_MAIL, count=2))
    p12 = await service.http.post(f"/download/{new_token}", data={"download_password": new_password})
    assert p12.status_code == 200 and p12.headers["content-type"] == "application/x-pkcs12"
    assert format(open_pkcs12(p12.content, new_password, tmp_path).serial_number, "x") != serial


async def test_a_locked_reissue_sends_the_user_to_support(service: Service) -> None:
    invitation = await service.invite()
    password = await register(service, invitation)
    download_token = download_url_of(await service.wait_for_mail(DOWNLOAD_MAIL))
    await service.http.post(f"/api/v1/downloads/{download_token}", json={"download_password": password})
    serial = (await service.status(invitation["id"]))["certificate_serial"]
    await service.http.post(f"/api/v1/login-certificates/{serial}/reissue", headers=service.tenant,
                            json={"revoke_old": "on_download"})
    guide = await service.wait_for_mail("証明書再発行手順のご案内")
    token = re.search(r"/reissue/(\S+)", guide.body).group(1)  # type: ignore[union-attr]
    for _ in range(4):
        assert (await service.http.post(f"/reissue/{token}", data={"answer": "Suzuki"})).status_code == 400
    locked = await service.http.post(f"/reissue/{token}", data={"answer": "Suzuki"})
    assert locked.status_code == 423
    assert "ロック解除が必要になります" in locked.text and "サポート窓口へご連絡ください" in locked.text
    assert 'name="answer"' not in locked.text
    for _ in range(50):  # the workflow mirrors the lock onto the row a moment later
        page = await service.http.get(f"/reissue/{token}?lang=en")
        if page.status_code == 423:
            break
        await service.env.sleep(timedelta(seconds=1))
    assert page.status_code == 423 and "support desk" in page.text
    service.http.cookies.clear()
    download = await service.http.get(f"/download/{token}")
    assert download.status_code == 423 and "サポート窓口" in download.text


async def test_the_download_manual(service: Service) -> None:
    page = await service.http.get("/help/download")
    assert page.status_code == 200 and "電子証明書ダウンロードマニュアル" in page.text
    assert "証明書ダウンロード用パスワード" in page.text and ".p12" in page.text
    english = await service.http.get("/help/download?lang=en")
    assert "Certificate download manual" in english.text and "Certificate Import Wizard" in english.text
    assert "Keychain Access" in english.text and "Firefox" in english.text
