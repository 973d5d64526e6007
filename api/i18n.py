"""Per-request language: ``?lang=`` then the ``lang`` cookie then Accept-Language; Japanese by default."""

from fastapi import Request

LANGUAGES = ("ja", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "ja": {
        "app_name": "certdesk 証明書サービス",
        "home_intro": "証明書のお申し込み、ダウンロード、アカウント管理を行うサービスです。",
        "mailbox": "開発用メールボックス",
        "mailbox_empty": "メールはまだありません。",
        "received": "受信日時",
        "from": "差出人",
        "to": "宛先",
        "subject": "件名",
        "back": "戻る",
        "language": "言語",
        "health": "稼働状況",
    },
    "en": {
        "app_name": "certdesk certificate services",
        "home_intro": "Apply for certificates, download them and manage your account.",
        "mailbox": "Development mailbox",
        "mailbox_empty": "No mail yet.",
        "received": "Received",
        "from": "From",
        "to": "To",
        "subject": "Subject",
        "back": "Back",
        "language": "Language",
        "health": "Health",
    },
}


def language_of(request: Request, default: str = "ja") -> str:
    for candidate in (request.query_params.get("lang"), request.cookies.get("lang")):
        if candidate in LANGUAGES:
            return candidate
    accept = request.headers.get("accept-language", "")
    for part in accept.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return default


def translator(lang: str):  # type: ignore[no-untyped-def]
    table = MESSAGES[lang]
    return lambda key: table.get(key, MESSAGES["ja"].get(key, key))
