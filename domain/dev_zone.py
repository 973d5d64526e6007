"""What a person may put in the development DNS zone (``/dev/dns``, ``certdesk up`` only), and
the files of its development website: the input rules, as plain data.

A record is entered as a name, a type and a value written the way ``dig`` shows it (TXT text
unquoted). Bad input raises :class:`InputError` naming the field and the catalogue key of its
message (``domain/locales/*/dev_tools.json``). The server itself is certdesk/dev_dns.py.
"""

import ipaddress
import re
from dataclasses import dataclass

TYPES = ("TXT", "CAA", "A", "MX", "CNAME")
MAX_TXT = 2000  # a few 255-byte strings: enough for any validation value or SPF-like text
MAX_FILE = 16 * 1024
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_CAA_TAG = re.compile(r"[A-Za-z0-9]{1,15}")  # RFC 8659 s. 4.1.1
_ISSUER = re.compile(r"\s*([A-Za-z0-9.-]*)\s*(;.*)?")  # RFC 8659 s. 4.2: issuer-domain-name [; params]
_FILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


class InputError(ValueError):
    """``field`` ("name", "type", "value", "domain", "file", "content") is bad; ``key`` says why."""

    def __init__(self, field: str, key: str) -> None:
        super().__init__(f"{field}: {key}")
        self.field, self.key = field, key


@dataclass(frozen=True)
class Record:
    """One record, normalized: ``value`` is its canonical input form (how it is listed, matched
    for deletion and saved); ``parts`` the typed fields the DNS server needs."""

    name: str
    type: str
    value: str
    parts: tuple[int | str, ...]


@dataclass(frozen=True)
class WebFile:
    domain: str
    file: str  # a name under /.well-known/pki-validation/
    content: str


def domain_name(text: str, field: str = "name") -> str:
    """``text`` as a lower-case domain name without the trailing dot, or InputError."""
    name = text.strip().rstrip(".").lower()
    if not name:
        raise InputError(field, "dev_err_name_missing")
    if not name.isascii():
        raise InputError(field, "dev_err_name_ascii")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise InputError(field, "dev_err_name")
    return name


def _unquote(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _caa(value: str) -> tuple[str, tuple[int, str, str]]:
    parts = value.strip().split(None, 2)
    if len(parts) != 3:
        raise InputError("value", "dev_err_caa_format")
    flags_text, tag, tag_value = parts[0], parts[1], _unquote(parts[2])
    if not flags_text.isdigit() or not 0 <= int(flags_text) <= 255:
        raise InputError("value", "dev_err_caa_flags")
    if not _CAA_TAG.fullmatch(tag):
        raise InputError("value", "dev_err_caa_tag")
    tag = tag.lower()
    if '"' in tag_value or not tag_value.isascii() or (tag in ("issue", "issuewild")
                                                       and not _ISSUER.fullmatch(tag_value)):
        raise InputError("value", "dev_err_caa_value")
    flags = int(flags_text)
    return f'{flags} {tag} "{tag_value}"', (flags, tag, tag_value)


def _mx(value: str) -> tuple[str, tuple[int, str]]:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) > 65535:
        raise InputError("value", "dev_err_mx")
    exchange = domain_name(parts[1], "value")
    return f"{int(parts[0])} {exchange}", (int(parts[0]), exchange)


def record(name: str, rtype: str, value: str) -> Record:
    """The record a person asked for, checked; InputError says which field is wrong and why."""
    owner = domain_name(name)
    kind = rtype.strip().upper()
    if kind not in TYPES:
        raise InputError("type", "dev_err_type")
    if kind == "TXT":
        text = value.strip()
        if not text:
            raise InputError("value", "dev_err_value_missing")
        if len(text.encode()) > MAX_TXT or "\n" in text or "\r" in text:
            raise InputError("value", "dev_err_txt")
        return Record(owner, kind, text, (text,))
    if not value.strip():
        raise InputError("value", "dev_err_value_missing")
    if kind == "CAA":
        canonical, caa = _caa(value)
        return Record(owner, kind, canonical, caa)
    if kind == "A":
        try:
            address = str(ipaddress.IPv4Address(value.strip()))
        except ValueError:
            raise InputError("value", "dev_err_a") from None
        return Record(owner, kind, address, (address,))
    if kind == "MX":
        canonical, mx = _mx(value)
        return Record(owner, kind, canonical, mx)
    target = domain_name(value, "value")  # CNAME
    return Record(owner, kind, target, (target,))


def web_file(domain: str, file: str, content: str) -> WebFile:
    """A file for ``http://<domain>/.well-known/pki-validation/<file>``, checked."""
    name = domain_name(domain, "domain")
    file = file.strip().removeprefix("/.well-known/pki-validation/")
    if not file:
        raise InputError("file", "dev_err_file_missing")
    if not _FILE_NAME.fullmatch(file) or file in (".", ".."):
        raise InputError("file", "dev_err_file")
    if len(content.encode()) > MAX_FILE:
        raise InputError("content", "dev_err_content")
    return WebFile(name, file, content)
