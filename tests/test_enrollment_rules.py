"""The login certificate service's pure rules (domain/enrollment.py), table-tested."""

import pytest

from domain import enrollment as e


@pytest.mark.parametrize(("typed", "same_as"), [
    ("Pochi", "pochi"),
    ("  POCHI  ", "pochi"),
    ("Ｐｏｃｈｉ", "pochi"),  # full-width letters
    ("yamada   taro", "Yamada Taro"),
    ("やまだ\u3000たろう", "やまだ たろう"),  # ideographic space
    ("ﾔﾏﾀﾞ", "ヤマダ"),  # half-width katakana
    ("Straße", "STRASSE"),  # case folding, not lowering
])
def test_answers_that_are_the_same(typed: str, same_as: str) -> None:
    assert e.normalise_answer(typed) == e.normalise_answer(same_as)


@pytest.mark.parametrize(("a", "b"), [("pochi", "poch"), ("yamada taro", "yamadataro"), ("ヤマダ", "やまだ")])
def test_answers_that_differ(a: str, b: str) -> None:
    assert e.normalise_answer(a) != e.normalise_answer(b)


@pytest.mark.parametrize(("answer", "problem"), [("", "empty"), ("   ", "empty"), ("x" * 65, "at most"),
                                                 ("x" * 64, None), ("ポチ", None)])
def test_answer_problems(answer: str, problem: str | None) -> None:
    found = e.answer_problem(answer)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_one_time_passwords_are_eight_random_digits() -> None:
    otps = {e.new_otp() for _ in range(200)}
    assert all(len(o) == 8 and o.isdigit() for o in otps)
    assert len(otps) > 195  # 10^8 possibilities: collisions in 200 draws are near impossible


@pytest.mark.parametrize(("typed", "normalised"), [("1234 5678", "12345678"), ("１２３４５６７８", "12345678"),
                                                   ("1234-5678", "12345678")])
def test_otp_typing_is_forgiven(typed: str, normalised: str) -> None:
    assert e.normalise_otp(typed) == normalised


def test_link_tokens_name_their_enrollment_and_cannot_be_forged() -> None:
    key, other_key = e.link_key("passphrase one"), e.link_key("passphrase two")
    public_id = e.new_public_id()
    token = e.link_token(key, public_id)
    assert e.public_id_of(key, token) == public_id
    assert e.public_id_of(other_key, token) is None
    forged = e.link_token(other_key, public_id)
    for bad in (forged, public_id, f"{public_id}.", token[:-1], token + "x", "", ".", "x" * 300,
                e.link_token(key, "enr_other").split(".")[0] + "." + token.split(".")[1]):
        assert e.public_id_of(key, bad) is None
    assert key != b"passphrase one"


def test_attempts_count_down_and_lock() -> None:
    attempts = e.Attempts(3)
    assert [attempts.fail() for _ in range(3)] == [2, 1, 0]
    assert attempts.locked and attempts.left == 0
    attempts.fail()
    assert attempts.left == 0
    attempts.reset()
    assert not attempts.locked and attempts.left == 3


def test_questions_have_both_languages_and_unique_ids() -> None:
    assert len(e.QUESTION_IDS) == len(e.QUESTIONS) >= 5
    for q in e.QUESTIONS:
        assert q.text("ja").endswith("？") and q.text("en").endswith("?")


@pytest.mark.parametrize(("kind", "before", "after", "moves"), [
    ("registration", e.OTP, e.QUESTION, True),
    ("registration", e.ISSUING, e.QUESTION, False),  # the OTP's mirror, delayed past the secret step
    ("registration", e.DOWNLOAD, e.ISSUING, False),
    ("registration", e.QUESTION, e.LOCKED, True),
    ("registration", e.LOCKED, e.QUESTION, False),  # a registration's lock ends it
    ("reissue", e.ANSWER, e.LOCKED, True),
    ("reissue", e.LOCKED, e.ANSWER, True),  # support unlocked it
    ("reissue", e.DOWNLOAD, e.DOWNLOADED, True),
    ("reissue", e.DOWNLOADED, e.DOWNLOAD, False),
])
def test_a_mirror_never_moves_the_row_back(kind: str, before: str, after: str, moves: bool) -> None:
    assert (e.progress(kind, after) >= e.progress(kind, before)) is moves


def test_a_reissue_lock_is_not_its_end() -> None:
    assert e.ended("registration", e.LOCKED) and not e.ended("reissue", e.LOCKED)
    assert e.ended("reissue", e.REJECTED) and not e.ended("registration", e.DOWNLOAD)
