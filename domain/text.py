"""What a one-line text a person gives may hold: the rule shared by the profile's fields and the
login certificate's name (which ends up in a certificate's CN, shown at every login).

Controls, unassigned and private-use code points, line and paragraph separators are refused,
and so, named apart because they hide or reorder text, are the bidi embeddings, overrides and
isolates (U+202A–U+202E, U+2066–U+2069), zero-width characters (U+200B–U+200D, U+2060) and the
BOM (U+FEFF).
"""

import unicodedata
from typing import Any

INVISIBLE = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                       0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF))


def line_problem(value: str, max_length: int, required: bool) -> tuple[str, dict[str, Any]] | None:
    """(code, context) of the first problem: required, too_long, invisible_characters,
    control_characters; None when the text may be kept."""
    if not value:
        return ("required", {}) if required else None
    if len(value) > max_length:
        return "too_long", {"max": max_length}
    if any(c in INVISIBLE for c in value):
        return "invisible_characters", {}
    if any(unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp") for c in value):
        return "control_characters", {}
    return None
