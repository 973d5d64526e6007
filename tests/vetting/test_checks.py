"""The desk's recorded checks: what may be recorded, and which one counts (reuse within BR 4.2.1)."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.vetting.checks import CHECKS, SOURCES, RecordedCheck, counting, identity, refusal

DAY = timedelta(days=1)
ISSUE = datetime(2026, 12, 20, 12, tzinfo=UTC)  # identity data reusable 398 days (from 2026-03-15)
ORG = {"name": "株式会社サンプル", "registration_number": "5010401089998", "country": "JP", "state": "東京都",
       "locality": "千代田区", "address": "丸の内1-1", "phone": "03-1234-5678", "name_kana": "サンプル"}


def rec(app: int, at: datetime, outcome: str = "confirmed", check: str = "organization",
        organization: dict[str, str] | None = None) -> RecordedCheck:
    return RecordedCheck(check, outcome, at, identity(organization or ORG), app, "nta_corporate_number")


@pytest.mark.parametrize(
    ("entry", "refused"),
    [
        (("organization", "nta_corporate_number", "", "confirmed", ""), None),
        (("organization", "documents_received", "登記事項証明書", "not_confirmed", "所在地が違う"), None),
        (("phone_callback", "telephone_directory", "03-1234-5678", "confirmed", ""), None),
        (("ev_signer_authority", "legal_opinion", "", "confirmed", ""), None),
        (("hunch", "nta_corporate_number", "", "confirmed", ""), ("check", "vet_check_unknown")),
        (("organization", "telephone_directory", "", "confirmed", ""), ("source", "vet_check_source")),
        (("organization", "qiis", "", "maybe", ""), ("outcome", "vet_check_outcome")),
        (("phone_callback", "qiis", "   ", "confirmed", ""), ("reference", "vet_check_number_required")),
        (("organization", "qiis", "x" * 201, "confirmed", ""), ("reference", "vet_check_too_long")),
        (("organization", "qiis", "", "not_confirmed", " "), ("note", "vet_check_note_required")),
        (("organization", "qiis", "", "confirmed", "x" * 2001), ("note", "vet_check_too_long")),
        (("organization", "qiis", "", "confirmed", "一行目\n二行目\r\n三行目"), None),  # lines are fine
        (("organization", "qiis", "", "confirmed", "Ya\u200bmada"), ("note", "vet_check_characters")),
        (("organization", "qiis", "", "confirmed", "a\u202eb"), ("note", "vet_check_characters")),
        (("organization", "qiis", "", "confirmed", "a\x00b"), ("note", "vet_check_characters")),
        (("phone_callback", "qiis", "03-1234\x00", "confirmed", ""), ("reference", "vet_check_characters")),
    ],
)
def test_refusal(entry: tuple[str, str, str, str, str], refused: tuple[str, str] | None) -> None:
    assert refusal(*entry) == refused


def test_every_check_has_sources() -> None:
    assert set(SOURCES) == set(CHECKS) and all(SOURCES[c] for c in CHECKS)


def test_this_applications_own_check_counts_within_the_period() -> None:
    found = counting("organization", 2, ORG, [rec(2, ISSUE - DAY)], ISSUE)
    assert found is not None and (found.checked_at, found.reused_from) == (ISSUE - DAY, None)
    assert counting("phone_callback", 2, ORG, [rec(2, ISSUE - DAY)], ISSUE) is None  # another kind
    assert counting("organization", 2, ORG, [rec(2, ISSUE + DAY)], ISSUE) is None  # stamped after: a clock error


@pytest.mark.parametrize(("age", "counts"), [(398 * DAY, True), (398 * DAY + timedelta(seconds=1), False)])
def test_an_earlier_applications_check_is_reused_for_398_days(age: timedelta, counts: bool) -> None:
    found = counting("organization", 2, ORG, [rec(1, ISSUE - age)], ISSUE)
    assert (found is not None) is counts
    if found:
        assert found.reused_from == 1


def test_before_2026_03_15_identity_data_was_reusable_for_825_days() -> None:
    early = datetime(2026, 3, 14, tzinfo=UTC)
    assert counting("organization", 2, ORG, [rec(1, early - 800 * DAY)], early) is not None


@pytest.mark.parametrize(
    "changed",
    [{"name": "株式会社サンプル東京"}, {"registration_number": "1234567890123"}, {"locality": "港区"},
     {"address": "丸の内2-2"}, {"phone": "03-9999-0000"}],
)
def test_a_changed_organization_is_checked_anew(changed: dict[str, str]) -> None:
    assert counting("organization", 2, {**ORG, **changed}, [rec(1, ISSUE - DAY)], ISSUE) is None


def test_spelling_that_means_the_same_is_unchanged() -> None:
    same = {**ORG, "name": " 株式会社サンプル　", "registration_number": "５０１０４０１０８９９９８",
            "name_kana": "ちがう"}  # not an identity field
    assert counting("organization", 2, same, [rec(1, ISSUE - DAY)], ISSUE) is not None


def test_the_newest_word_wins() -> None:
    # Own "not confirmed" after an own confirmation: nothing counts, not even an earlier application's.
    own = [rec(2, ISSUE - 3 * DAY), rec(2, ISSUE - DAY, "not_confirmed"), rec(1, ISSUE - 10 * DAY)]
    assert counting("organization", 2, ORG, own, ISSUE) is None
    # Confirmed again on this application: counts.
    assert counting("organization", 2, ORG, [*own, rec(2, ISSUE - DAY / 2)], ISSUE) is not None
    # Another application's later "not confirmed" outweighs an older confirmation there.
    others = [rec(1, ISSUE - 30 * DAY), rec(3, ISSUE - 5 * DAY, "not_confirmed")]
    assert counting("organization", 2, ORG, others, ISSUE) is None
    # The newest confirmation of the same organization is the one reused.
    found = counting("organization", 2, ORG, [rec(1, ISSUE - 30 * DAY), rec(3, ISSUE - 5 * DAY)], ISSUE)
    assert found is not None and found.reused_from == 3


def test_an_own_check_past_the_period_falls_back_to_a_newer_reusable_one() -> None:
    found = counting("organization", 2, ORG, [rec(2, ISSUE - 400 * DAY), rec(1, ISSUE - DAY)], ISSUE)
    assert found is not None and found.reused_from == 1
