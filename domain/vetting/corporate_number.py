"""The Japanese corporate number (法人番号, designated by the National Tax Agency 国税庁).

Thirteen digits: a check digit (検査用数字) followed by the twelve-digit base number (基礎番号;
for a registered company its 会社法人等番号). The check digit is defined by 法人番号の指定等に
関する省令 (平成26年財務省令第70号) 第2条:

    check = 9 - ((Σ_{n=1..12} Pn × Qn) mod 9)

where Pn is the n-th digit of the base number counted from its last (rightmost) digit and Qn is
1 for odd n, 2 for even n. It is always 1-9, so a number never starts with 0.
"""

from __future__ import annotations

import re
import unicodedata

# Hyphen look-alikes people paste from documents (after NFKC, which folds the full-width ones);
# ー (katakana prolonged sound mark) is the one an IME types for "-".
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc]+")
_THIRTEEN_DIGITS = re.compile(r"[0-9]{13}")


def normalise(number: str) -> str:
    """Half-width digits only: full-width digits folded, spaces and hyphens removed."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", number))


def check_digit(base: str) -> int:
    """The check digit of a twelve-digit base number."""
    if not re.fullmatch(r"[0-9]{12}", base):
        raise ValueError(f"a base number is twelve digits: {base!r}")
    total = sum(int(digit) * (1 if n % 2 else 2) for n, digit in enumerate(reversed(base), start=1))
    return 9 - total % 9


def check(number: str) -> str | None:
    """Why ``number`` is not a corporate number (a refusal code), or None when it is one."""
    digits = normalise(number)
    if not _THIRTEEN_DIGITS.fullmatch(digits):
        return "corporate_number_format"
    if int(digits[0]) != check_digit(digits[1:]):
        return "corporate_number_check_digit"
    return None


def from_registration(number: str) -> str | None:
    """The 法人番号 a registration field gives: a valid thirteen-digit number itself, or the check
    digit put before a twelve-digit 会社法人等番号 (登記番号, e.g. 0100-01-123456); else None."""
    digits = normalise(number)
    if re.fullmatch(r"[0-9]{12}", digits):
        return f"{check_digit(digits)}{digits}"
    return digits if check(digits) is None else None
