"""The hostile input corpus (issue 14, "Tests that enumerate"): values no route may take.

Each ``Hostile`` is a JSON value (``bytes`` where only raw, invalid UTF-8 will do) with the class
it belongs to, for the report, and the kind of field it aims at: ``"any"`` (every field), or
``"csr"``, ``"email"``, ``"int"``, ``"token"``, ``"next"`` (fields of that kind only). Forms, query
strings and paths carry text: a value that is not text goes only into JSON. ``BODIES`` are whole
request bodies, tried on every route that changes state.
"""

import json
from dataclasses import dataclass
from typing import Any

from tests.test_certificate_authority import make_csr
from tests.test_input_storage import BAD_EMAILS, NAME_REFUSALS

MB = 1 << 20


@dataclass(frozen=True)
class Hostile:
    cls: str
    label: str
    value: Any  # str, bytes (raw, not UTF-8), or any JSON value
    aims: str = "any"
    refuse: bool = True  # no field may take it; else text some fields legitimately take ("O'Reilly", "😀")

    @property
    def textual(self) -> bool:
        return isinstance(self.value, str | bytes)


@dataclass(frozen=True)
class RawJson:
    """JSON text put in as it is (Python's own encoder cannot go 1,000 levels deep)."""

    text: bytes


def _nested(depth: int, leaf: str, as_dict: bool) -> RawJson:
    return RawJson(('{"a":' * depth + leaf + "}" * depth if as_dict else "[" * depth + leaf + "]" * depth).encode())


def _csrs() -> list[Hostile]:
    csr, other = make_csr("www.example.co.jp"), make_csr("www.google.com")
    body = csr.split("-----")[2]
    cases = {
        "trailing junk": csr + "trailing junk",
        "two concatenated": csr + "\n" + other,
        "junk before": "junk before\n" + csr,
        "encrypted header": csr.replace("REQUEST-----\n", "REQUEST-----\nProc-Type: 4,ENCRYPTED\n\n", 1),
        "certificate label": csr.replace("CERTIFICATE REQUEST", "CERTIFICATE"),
        "mismatched end": csr.replace("-----END CERTIFICATE REQUEST-----", "-----END CERTIFICATE-----"),
        "bang inside base64": csr.replace("\n", "\n!", 2),
        "NUL after": csr + "\x00",
        "NUL inside": csr.replace("\n", "\n\x00", 3),
        "truncated base64": csr[: len(csr) // 2] + "\n-----END CERTIFICATE REQUEST-----\n",
        "padding inside": csr.replace("REQUEST-----\n", "REQUEST-----\n==", 1),
        "empty block": "-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n",
        "base64 not DER": "-----BEGIN CERTIFICATE REQUEST-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE REQUEST-----\n",
        "bare base64": body.strip(),
        "DER as text": body.strip().encode().decode("ascii")[::-1],
        "only BEGIN": "-----BEGIN CERTIFICATE REQUEST-----\n" + body,
        "private key": "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
        "CR line breaks and junk": csr.replace("\n", "\r") + "\r\rjunk",
    }
    return [Hostile("malformed CSR", label, value, "csr") for label, value in cases.items()]


def _emails() -> list[Hostile]:
    return [Hostile("bad e-mail", repr(a), a, "email") for a in BAD_EMAILS]


def _invisible() -> list[Hostile]:
    found = [Hostile("bidi / zero-width / control", f"{code}: {name!r}", name) for name, code in NAME_REFUSALS
             if code != "required"]
    more = {"BEL": "a\x07b", "ESC": "a\x1b[31mb", "NEL": "a\x85b", "C1 CSI": "a\x9bb", "RLO alone": "\u202e",
            "LRE..PDF": "\u202aab\u202c", "ALM": "a\u061cb", "word joiner": "a\u2060b",
            "interlinear": "a\ufff9b"}
    return found + [Hostile("bidi / zero-width / control", label, v) for label, v in more.items()]


def _ids() -> list[Hostile]:
    values = [str(2**63), str(2**64), str(-(2**63) - 1), "9" * 40, "-1", "1e400", "NaN", "Infinity", "0x10",
              "1_000", "1.5", "1 OR 1=1"]
    # The number 1 or 123 written otherwise: it may name the row 1 or 123 (or nothing).
    same_number = [" 1", "１２３", "٣", "+1", "01"]
    return ([Hostile("id beyond 64 bits / not an id", v, v, "int") for v in values]
            + [Hostile("id beyond 64 bits / not an id", v, v, "int", refuse=False) for v in same_number])


def _oversized() -> list[Hostile]:
    return [
        Hostile("oversized", "1 MB ASCII", "A" * MB),
        Hostile("oversized", "1 MB of 3-byte characters", "あ" * (MB // 3)),
        Hostile("oversized", "10,000-element array", ["x"] * 10_000),
        Hostile("oversized", "10,000-key object", {f"k{i}": i for i in range(10_000)}),
        Hostile("oversized", "64 KB line", "x" * 65_536),
    ]


def _nesting() -> list[Hostile]:
    return [
        Hostile("deep nesting", "1,000 nested arrays", _nested(1000, '"x"', False)),
        Hostile("deep nesting", "1,000 nested objects", _nested(1000, '"x"', True)),
        Hostile("deep nesting", "100 nested arrays", _nested(100, "1", False)),
        Hostile("deep nesting", "50,000 nested arrays", _nested(50_000, "1", False)),
    ]


def _wrong_types() -> list[Hostile]:
    values = {"0": 0, "-1": -1, "1.5": 1.5, "1e308": 1e308, "2**70": 2**70, "true": True, "false": False,
              "null": None, "[]": [], "{}": {}, '["x"]': ["x"], '{"$ne": ""}': {"$ne": ""},
              '{"__proto__": {}}': {"__proto__": {}}}
    return [Hostile("wrong type", label, v) for label, v in values.items()]


def _unicode() -> list[Hostile]:
    text = {"lone high surrogate": "a\ud800b", "lone low surrogate": "\udfff", "reversed pair": "\udc00\ud800",
            "fullwidth (NFKC)": "ｆｕｌｌ", "ligature (NFKC)": "ﬁle", "circled (NFKC)": "①②",
            "Kelvin sign (NFKC)": "\u212a", "4-byte emoji": "😀", "ZWJ emoji": "👨\u200d👩\u200d👧",
            "RTL Arabic": "مرحبا", "RTL Hebrew": "שלום", "combining flood": "a" + "\u0301" * 500,
            "tag characters": "a\U000e0041\U000e007f", "private use": "\ue000", "noncharacter": "\uffff",
            "replacement char": "\ufffd", "decomposed": "Jose\u0301"}
    raw = {"invalid UTF-8 (surrogate bytes)": b"a\xed\xa0\x80b", "invalid UTF-8 (0xFF)": b"\xff\xfe",
           "overlong slash": b"\xc0\xaf", "truncated sequence": b"\xe3\x81"}
    return ([Hostile("unicode edge", label, v, refuse="surrogate" in label or "pair" in label)
             for label, v in text.items()]
            + [Hostile("unicode edge", label, v) for label, v in raw.items()])  # not UTF-8: never text


def _sql() -> list[Hostile]:
    values = ["%", "_", "%%", "a%", "%_%", "'; DROP TABLE customer;--", "' OR '1'='1", "\\", "\\%", '"', "`",
              "1; SELECT 1", "*", "[a-z]", "' UNION SELECT password_hash FROM staff_user--"]
    return [Hostile("SQL / LIKE metacharacters", repr(v), v, refuse=False) for v in values]


def _traversal() -> list[Hostile]:
    values = ["../", "..%2f", "%2e%2e%2f", "..%00", "../../etc/passwd", "..\\..\\", "%252e%252e%252f",
              "/etc/passwd", "....//", "%c0%ae%c0%ae/", ".", ".."]
    return [Hostile("path traversal", repr(v), v, aims, refuse=aims == "token") for v in values
            for aims in ("token", "any")]


def _headerish() -> list[Hostile]:
    values = {"CRLF Set-Cookie": "a\r\nSet-Cookie: x=1", "LF Location": "a\nLocation: http://evil.example",
              "CR alone": "a\rb", "LS": "a\u2028b", "PS": "a\u2029b", "CRLF CRLF body": "a\r\n\r\n<html>"}
    return ([Hostile("header injection", label, v) for label, v in values.items()]
            + [Hostile("header injection", "percent-encoded CRLF (plain text)", "a%0d%0aSet-Cookie:x=1", refuse=False)])


def _misc() -> list[Hostile]:
    values = {"script": "<script>alert(1)</script>", "template": "{{7*7}}", "format braces": "{0.__class__}",
              "printf": "%s%n%x", "jndi": "${jndi:ldap://evil.example/a}", "empty": "", "blanks": "   ",
              "tab only": "\t"}
    redirects = ["//evil.example", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
                 "\\\\evil.example"]
    return ([Hostile("markup / templates", label, v, refuse=False) for label, v in values.items()]
            + [Hostile("open redirect", v, v, "next", refuse=False) for v in redirects])


CORPUS: list[Hostile] = (_csrs() + _emails() + _invisible() + _ids() + _oversized() + _nesting() + _wrong_types()
                         + _unicode() + _sql() + _traversal() + _headerish() + _misc())


@dataclass(frozen=True)
class Body:
    """A whole request body, sent as it is with its content type."""

    label: str
    content: bytes
    content_type: str


def _bodies() -> list[Body]:
    deep = "[" * 1000 + "]" * 1000
    form = "application/x-www-form-urlencoded"
    return [
        Body("1,000-level JSON arrays", deep.encode(), "application/json"),
        Body("100,000-level JSON arrays", ("[" * 100_000 + "]" * 100_000).encode(), "application/json"),
        Body("1,000-level JSON objects", ('{"a":' * 1000 + "1" + "}" * 1000).encode(), "application/json"),
        Body("JSON array, not object", b'["x"]', "application/json"),
        Body("JSON null", b"null", "application/json"),
        Body("JSON string", b'"x"', "application/json"),
        Body("truncated JSON", b'{"a": "b', "application/json"),
        Body("NaN literal", b'{"a": NaN}', "application/json"),
        Body("BOM before JSON", b'\xef\xbb\xbf{"a": "b"}', "application/json"),
        Body("invalid UTF-8 JSON", b'{"a": "\xff\xfe"}', "application/json"),
        Body("lone surrogate escape as whole body", b'"\\ud800"', "application/json"),
        Body("1 MB JSON string", json.dumps({"a": "A" * MB}).encode(), "application/json"),
        Body("10,000-element JSON array", json.dumps(list(range(10_000))).encode(), "application/json"),
        Body("empty body", b"", "application/json"),
        Body("JSON as text/plain", b'{"a": "b"}', "text/plain"),
        Body("XML", b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
             "application/xml"),
        Body("10,000 form fields", "&".join(f"f{i}=x" for i in range(10_000)).encode(), form),
        Body("1 MB form field", b"a=" + b"A" * MB, form),
        Body("form with invalid percent escapes", b"a=%zz%&b=%ff%fe", form),
        Body("multipart with a file", b'--B\r\nContent-Disposition: form-data; name="f"; filename="../../x"\r\n'
             b"Content-Type: application/octet-stream\r\n\r\nxx\r\n--B--\r\n", "multipart/form-data; boundary=B"),
        Body("multipart without a closing boundary", b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nx',
             "multipart/form-data; boundary=B"),
        Body("multipart with no boundary", b"x", "multipart/form-data"),
    ]


BODIES = _bodies()
