"""The Web ステッカー (site seal, S-8) and the certificate's download files, as pure rules.

* ``status``: what the public verification page (``/seal/{public id}``) says of a contract's
  current certificate, from the CA's records at the moment of asking: valid only while the
  certificate is issued, not revoked, inside its validity and its contract live.
* ``svg``: the seal image (organization name and the CA's mark) in one of ``SIZES``; the
  not-valid variant is grey and says so, so an embedded seal never vouches for a revoked site.
* ``file_name``: download file names from the certificate's first name and its issue date.

No I/O here: the PNG rendering (fonts) is ``domain/seal_image.py``.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from unicodedata import east_asian_width
from xml.sax.saxutils import escape

Status = Literal["valid", "revoked", "expired", "not_yet_valid", "ended", "unknown"]
LIVE_CONTRACT_STATES = ("active", "ending")
CA_MARK = "certdesk"  # the CA's mark on every seal
VALID_LINE, NOT_VALID_LINE = "SSL/TLS VERIFIED", "NOT VALID"


@dataclass(frozen=True)
class Size:
    name: str
    width: int
    height: int
    name_units: int  # how much of the organization's name fits (an East Asian wide character counts 2)


SIZES = {s.name: s for s in (Size("s", 120, 56, 17), Size("m", 180, 84, 17), Size("l", 240, 112, 17))}
DEFAULT_SIZE = "m"


def status(cert_state: str | None, not_before: datetime | None, not_after: datetime | None,
           contract_state: str, now: datetime) -> Status:
    """The seal's word on a certificate (``cert_state`` None: no record). Revocation comes first:
    a revoked certificate is never "expired" or "ended" on the seal page, whatever else holds."""
    if cert_state is None or cert_state == "reserved" or not_before is None or not_after is None:
        return "unknown"
    if cert_state == "revoked":
        return "revoked"
    if now > not_after:
        return "expired"
    if now < not_before:
        return "not_yet_valid"
    if contract_state not in LIVE_CONTRACT_STATES:
        return "ended"
    return "valid"


def width_units(text: str) -> int:
    return sum(2 if east_asian_width(c) in ("W", "F") else 1 for c in text)


def fit(text: str, units: int) -> str:
    """``text`` cut to ``units`` display units, with an ellipsis when cut."""
    text = " ".join(text.split())
    if width_units(text) <= units:
        return text
    out, used = "", 0
    for c in text:
        w = width_units(c)
        if used + w > units - 1:
            break
        out, used = out + c, used + w
    return out.rstrip() + "…"


@dataclass(frozen=True)
class Layout:
    """Where things go on a seal of one size; the SVG and the PNG draw the same picture."""

    size: Size
    organization: str  # already fitted
    valid: bool

    @property
    def scale(self) -> float:
        return self.size.width / 180

    @property
    def colors(self) -> tuple[str, str, str]:
        """(frame and mark, background, text)."""
        return ("#1f3a5f", "#ffffff", "#1d2433") if self.valid else ("#8a8f98", "#eeeeee", "#5b606a")

    def shield(self) -> list[tuple[float, float]]:
        """The CA's mark: a shield on the left, as a polygon."""
        k = self.scale
        x, y, w, h = 10 * k, 14 * k, 34 * k, 44 * k
        return [(x, y + 6 * k), (x + w / 2, y), (x + w, y + 6 * k), (x + w, y + h * 0.55),
                (x + w / 2, y + h), (x, y + h * 0.55)]

    def check(self) -> list[tuple[float, float]]:
        """The mark's tick (valid) or bar (not valid), as a polyline."""
        k = self.scale
        if self.valid:
            return [(19 * k, 35 * k), (25 * k, 42 * k), (36 * k, 28 * k)]
        return [(19 * k, 35 * k), (36 * k, 35 * k)]

    def lines(self) -> list[tuple[str, float, float, float, bool]]:
        """(text, x, baseline y, font size, bold): the organization, the status line, the mark."""
        k = self.scale
        return [(self.organization, 52 * k, 32 * k, 12 * k, True),
                (VALID_LINE if self.valid else NOT_VALID_LINE, 52 * k, 52 * k, 10 * k, not self.valid),
                (CA_MARK, 52 * k, 70 * k, 10 * k, True)]


def layout(organization: str, size: str, valid: bool) -> Layout:
    s = SIZES[size]
    return Layout(s, fit(organization, s.name_units), valid)


def svg(organization: str, size: str, valid: bool) -> str:
    """The seal as a standalone SVG document (text escaped; no script, no external reference)."""
    lay = layout(organization, size, valid)
    frame, background, ink = lay.colors
    w, h, k = lay.size.width, lay.size.height, lay.scale

    def points(pts: list[tuple[float, float]]) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)

    label = escape(f"{lay.organization} — {VALID_LINE if valid else NOT_VALID_LINE} — {CA_MARK}", {'"': "&quot;"})
    bold_attr = ' font-weight="bold"'
    texts = "".join(
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{fs:.1f}"{bold_attr if bold else ""} '
        f'fill="{frame if t == CA_MARK else ink}">{escape(t)}</text>' for t, x, y, fs, bold in lay.lines())
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
            f'role="img" aria-label="{label}">'
            f'<rect x="{k:.1f}" y="{k:.1f}" width="{w - 2 * k:.1f}" height="{h - 2 * k:.1f}" rx="{6 * k:.1f}" '
            f'fill="{background}" stroke="{frame}" stroke-width="{2 * k:.1f}"/>'
            f'<polygon points="{points(lay.shield())}" fill="{frame}"/>'
            f'<polyline points="{points(lay.check())}" fill="none" stroke="#ffffff" stroke-width="{3.5 * k:.1f}" '
            f'stroke-linecap="round" stroke-linejoin="round"/>'
            f'<g font-family="\'IPAGothic\',\'Noto Sans CJK JP\',\'Hiragino Sans\',sans-serif">{texts}</g></svg>')


# --- download files ---------------------------------------------------------------------------------

FORMATS = ("certificate", "chain", "fullchain", "pkcs7")  # in the order the download screen offers them
SUFFIXES = {"certificate": ".pem", "chain": ".chain.pem", "fullchain": ".fullchain.pem", "pkcs7": ".p7b"}
CONTAINS_CERTIFICATE = ("certificate", "fullchain", "pkcs7")  # a download of one of these is "downloaded"


def file_stem(name: str, issued_on: date) -> str:
    """``www.example.co.jp_20261205``; a wildcard name as ``wildcard.example.co.jp``. Only letters,
    digits, dots and hyphens remain, so the name is safe in a Content-Disposition header."""
    host = name.strip().lower()
    if host.startswith("*."):
        host = "wildcard." + host[2:]
    host = "".join(c if c.isascii() and (c.isalnum() or c in ".-") else "-" for c in host).strip(".-") or "certificate"
    return host + "_" + issued_on.strftime("%Y%m%d")


def file_name(name: str, issued_on: date, fmt: str) -> str:
    return file_stem(name, issued_on) + SUFFIXES[fmt]


def seal_file_name(name: str, size: str, kind: str) -> str:
    """The seal image's file name when downloaded: ``www.example.co.jp-seal-m.svg``."""
    stem = file_stem(name, date(2000, 1, 1)).rsplit("_", 1)[0]
    return stem + "-seal-" + size + "." + kind
