"""The site seal as PNG (Pillow), drawing ``domain.site_seal``'s layout.

Japanese text needs a CJK font: the first of ``CJK_FONTS`` that exists (Debian's
fonts-ipafont-gothic or fonts-noto-cjk; ``.ci/install-browser`` installs the former). Without one
the PNG still renders, in Pillow's built-in font: the CA's mark and the status, and, in place of
an organization name it cannot draw, the certificate's domain (ASCII).
"""

import io
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from domain import site_seal

CJK_FONTS = (
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
)
SUPERSAMPLE = 2  # drawn twice as large and reduced: smooth edges on the shield


@cache
def cjk_font_path() -> str | None:
    return next((p for p in CJK_FONTS if Path(p).is_file()), None)


def _font(path: str | None, size: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    px = max(6, round(size))
    if path is not None:
        return ImageFont.truetype(path, px)
    return ImageFont.load_default(px)


def png(organization: str, domain_name: str, size: str, valid: bool, font_path: str | None = "") -> bytes:
    """The seal as PNG bytes. ``font_path``: "" finds a CJK font, None forces the ASCII fallback."""
    path = cjk_font_path() if font_path == "" else font_path
    name = organization if path is not None or organization.isascii() else domain_name
    lay = site_seal.layout(name, size, valid)
    frame, background, ink = lay.colors
    n = SUPERSAMPLE
    w, h, k = lay.size.width * n, lay.size.height * n, lay.scale * n
    image = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((k, k, w - 1 - k, h - 1 - k), radius=6 * k, fill=background, outline=frame,
                           width=max(1, round(2 * k)))
    draw.polygon([(x * n, y * n) for x, y in lay.shield()], fill=frame)
    draw.line([(x * n, y * n) for x, y in lay.check()], fill="#ffffff", width=max(1, round(3.5 * k)), joint="curve")
    for text, x, y, font_size, bold in lay.lines():
        font = _font(path, font_size * n)
        color = frame if text == site_seal.CA_MARK else ink
        # The layout gives baselines; Pillow's "ls" anchor draws from the left end of the baseline.
        draw.text((x * n, y * n), text, font=font, fill=color, anchor="ls",
                  stroke_width=1 if bold and n > 1 else 0, stroke_fill=color)
    out = io.BytesIO()
    image.resize((lay.size.width, lay.size.height), Image.Resampling.LANCZOS).save(out, format="PNG", optimize=True)
    return out.getvalue()
