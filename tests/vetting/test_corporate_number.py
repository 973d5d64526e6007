"""The 法人番号 check digit (平成26年財務省令第70号 第2条) on published numbers and on damaged ones."""

from __future__ import annotations

import pytest

from domain.vetting.corporate_number import check, check_digit, from_registration, normalise

# Published corporate numbers (国税庁 法人番号公表サイト).
PUBLISHED = [
    "7000012050002",  # 国税庁
    "4000012090001",  # 経済産業省
    "1000011000005",  # 国立国会図書館
    "1180301018771",  # トヨタ自動車株式会社
    "5010001008846",  # 株式会社三菱UFJ銀行
    "8120001059652",  # 積水ハウス株式会社
]


@pytest.mark.parametrize("number", PUBLISHED)
def test_published_numbers_pass(number: str) -> None:
    assert check(number) is None
    assert check_digit(number[1:]) == int(number[0])


@pytest.mark.parametrize(
    ("base", "digit"),
    [
        ("000012050002", 7),  # 国税庁: Σ = 11, 9 - 2
        ("123456789012", 7),  # worked example: Σ = 74, 9 - 74 mod 9 = 7
        ("000000000000", 9),  # a multiple of 9 gives 9, never 0
    ],
)
def test_check_digit(base: str, digit: int) -> None:
    assert check_digit(base) == digit


@pytest.mark.parametrize("base", ["", "12345678901", "1234567890123", "12345678901a", "１２３４５６７８９０１２"])
def test_check_digit_needs_twelve_digits(base: str) -> None:
    with pytest.raises(ValueError):
        check_digit(base)


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("７００００１２０５０００２", "7000012050002"),  # full-width digits
        ("7-0000-1205-0002", "7000012050002"),
        ("7000－0120－50002", "7000012050002"),  # full-width hyphen-minus
        ("7000‐0120‐50002", "7000012050002"),  # U+2010 hyphen
        ("7000−0120−50002", "7000012050002"),  # U+2212 minus sign
        ("7000ー0120ー50002", "7000012050002"),  # katakana prolonged sound mark typed for "-"
        (" 7000 0120 50002\n", "7000012050002"),
        ("\u30007000012050002\u3000", "7000012050002"),  # ideographic spaces
    ],
)
def test_normalise(raw: str, number: str) -> None:
    assert normalise(raw) == number
    assert check(raw) is None


@pytest.mark.parametrize(
    ("number", "refusal"),
    [
        ("1180301018772", "corporate_number_check_digit"),  # one digit altered
        ("8000012050002", "corporate_number_check_digit"),  # wrong check digit
        ("7000012050020", "corporate_number_check_digit"),  # two digits swapped
        ("0000012050002", "corporate_number_check_digit"),  # 0 is never a check digit
        ("700001205000", "corporate_number_format"),  # twelve digits
        ("70000120500021", "corporate_number_format"),  # fourteen
        ("T7000012050002", "corporate_number_format"),  # an invoice registration number, not a 法人番号
        ("7000o12050002", "corporate_number_format"),
        ("٧٠٠٠٠١٢٠٥٠٠٠٢", "corporate_number_format"),  # Arabic-Indic digits are not folded
        ("", "corporate_number_format"),
    ],
)
def test_refusals(number: str, refusal: str) -> None:
    assert check(number) == refusal


@pytest.mark.parametrize(
    ("registration", "corporate"),
    [
        ("0104-01-089998", "5010401089998"),  # a 登記番号 (会社法人等番号) gets its check digit
        ("010401089998", "5010401089998"),
        ("5010401089998", "5010401089998"),  # already a 法人番号
        ("５０１０４０１０８９９９８", "5010401089998"),
        ("6010401089998", None),  # a wrong check digit
        ("0100-01-12345", None),  # eleven digits
        ("", None),
    ],
)
def test_from_registration(registration: str, corporate: str | None) -> None:
    assert from_registration(registration) == corporate
