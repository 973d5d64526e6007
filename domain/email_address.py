"""E-mail addresses: the one rule for every place that takes, stores or mails to one.

An address is exactly one mailbox, ``local@domain``: no display name (``x <a@b>``), no list
(``a@x,postmaster``), no control characters, no comments or quoted tricks, checked by the
``email-validator`` library without any DNS look-up (deliverability is the mail server's
business). What is stored and mailed to is the library's normalised form, never the text as
typed, so the SMTP envelope and the ``To`` header can only ever name that one address.
"""

import unicodedata

from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 254  # RFC 5321 path limit less the angle brackets


class NotAnEmailAddress(ValueError):
    """``code`` is the field error's code (``email``); the message is English, for logs only."""

    code = "email"


def normalise_email(value: str) -> str:
    """The address alone, normalised (the domain lowercased); ``NotAnEmailAddress`` otherwise.

    Full-width characters a Japanese IME produces (ｉｔ＠ｅｘａｍｐｌｅ．ｊｐ) are NFKC-folded
    first; anything that is still not one plain ASCII address is refused.
    """
    text = unicodedata.normalize("NFKC", value).strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_LENGTH or not text.isascii() or any(not c.isprintable() for c in text):
        raise NotAnEmailAddress("not a single plain e-mail address")
    try:
        # Special-use domains (.localhost, .test) are allowed: development and staff addresses use
        # them; whether mail arrives is the mail server's business, as said above.
        checked = validate_email(text, check_deliverability=False, globally_deliverable=False, allow_smtputf8=False,
                                 allow_display_name=False, allow_quoted_local=False,
                                 allow_domain_literal=False, allow_empty_local=False)
    except EmailNotValidError as exc:
        raise NotAnEmailAddress(str(exc)) from None
    name, dot, top = checked.ascii_domain.rpartition(".")
    # No DNS look-up, so catch "a@example" and ".c" typos: a name and a top-level domain.
    if not dot or not name or len(top) < 2 or not (top.isalpha() or top.startswith("xn--")):
        raise NotAnEmailAddress("the domain does not end in a top-level domain")
    return checked.normalized


def is_email(value: str) -> bool:
    try:
        normalise_email(value)
    except NotAnEmailAddress:
        return False
    return True
