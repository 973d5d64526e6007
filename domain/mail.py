"""Email rendering from Jinja2 templates, Japanese by default, English on request.

A template is ``mail_templates/{lang}/{name}.txt`` whose first line is ``Subject: ...``.
"""

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).resolve().parent / "mail_templates"
LANGUAGES = ("ja", "en")


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    body: str


@lru_cache(maxsize=1)
def _env() -> Environment:
    # Plain-text mail: no HTML escaping, but every variable must be supplied.
    return Environment(  # noqa: S701
        loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=True
    )


def render(template: str, language: str, context: dict[str, object]) -> RenderedMail:
    lang = language if language in LANGUAGES else LANGUAGES[0]
    text = _env().get_template(f"{lang}/{template}.txt").render(**context)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"mail template {lang}/{template} must start with 'Subject: '")
    return RenderedMail(subject=first.removeprefix("Subject: ").strip(), body=body.lstrip("\n"))


def build_message(
    mail: RenderedMail, sender: str, recipient: str, business_key: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=False)
    # A stable Message-ID per business event lets receivers drop a duplicate
    # if a crash between SMTP and our bookkeeping makes a retry send again.
    domain = sender.rpartition("@")[2] or "certdesk.local"
    msg["Message-ID"] = make_msgid(idstring=business_key.replace(":", ".")[:60], domain=domain)
    msg["X-Certdesk-Event"] = business_key
    msg.set_content(mail.body, charset="utf-8")
    return msg
