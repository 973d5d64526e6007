"""BR 3.2.2.9 quorum table, phase-in dates and the corroboration verdict."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from domain.vetting.mpic import (
    TooFewPerspectives,
    Verdict,
    allowed_non_corroborations,
    corroborated,
    min_remote_perspectives,
    phase,
)


@pytest.mark.parametrize(
    ("used", "allowed"),
    [(0, 0), (1, 0), (2, 1), (3, 1), (5, 1), (6, 2), (7, 2), (12, 2)],
)
def test_quorum_table(used: int, allowed: int) -> None:
    assert allowed_non_corroborations(used) == allowed


@pytest.mark.parametrize(
    ("on", "minimum", "enforced", "rirs"),
    [
        (date(2025, 3, 14), 0, False, 0),
        (date(2025, 3, 15), 2, False, 1),
        (date(2025, 9, 14), 2, False, 1),
        (date(2025, 9, 15), 2, True, 1),
        (date(2026, 3, 14), 2, True, 1),
        (date(2026, 3, 15), 3, True, 2),
        (date(2026, 6, 14), 3, True, 2),
        (date(2026, 6, 15), 4, True, 2),
        (date(2026, 12, 14), 4, True, 2),
        (date(2026, 12, 15), 5, True, 2),
        (date(2030, 1, 1), 5, True, 2),
        (datetime(2026, 12, 14, 23, 59, 59, tzinfo=UTC), 4, True, 2),
    ],
)
def test_phases(on: date, minimum: int, enforced: bool, rirs: int) -> None:
    p = phase(on)
    assert (min_remote_perspectives(on), p.enforced, p.min_rirs) == (minimum, enforced, rirs)


T, F, N = True, False, None  # corroborates, disagrees, did not answer

ON = date(2026, 12, 15)  # five remote perspectives: one may fail


@pytest.mark.parametrize(
    ("primary_ok", "results", "on", "verdict"),
    [
        (True, [T, T, T, T, T], ON, Verdict(True, "corroborated")),
        (True, [T, T, T, T, F], ON, Verdict(True, "corroborated")),
        (True, [T, T, T, T, N], ON, Verdict(True, "corroborated")),
        (True, [T, T, T, F, F], ON, Verdict(False, "quorum_failed")),
        (True, [T, T, T, N, F], ON, Verdict(False, "quorum_failed")),
        (True, [T, T, T, T, T, F], ON, Verdict(True, "corroborated")),
        (True, [T, T, T, T, N, F], ON, Verdict(True, "corroborated")),
        (True, [T, T, T, F, F, F], ON, Verdict(False, "quorum_failed")),
        (False, [T, T, T, T, T], ON, Verdict(False, "primary_failed")),
        (True, [T, T, T, T], date(2026, 12, 14), Verdict(True, "corroborated")),
        (True, [T, T, F, F], date(2026, 12, 14), Verdict(False, "quorum_failed")),
        (True, [T, F], date(2025, 9, 15), Verdict(True, "corroborated")),
        (True, [F, F], date(2025, 9, 15), Verdict(False, "quorum_failed")),
        # Before 2025-09-15 a failed quorum was only monitored.
        (True, [F, F], date(2025, 9, 14), Verdict(True, "quorum_failed_monitored")),
        (False, [T, T], date(2025, 9, 14), Verdict(False, "primary_failed")),
        (True, [], date(2025, 3, 14), Verdict(True, "corroborated")),
    ],
)
def test_corroborated(primary_ok: bool, results: list[bool | None], on: date, verdict: Verdict) -> None:
    assert corroborated(primary_ok, results, on) == verdict


@pytest.mark.parametrize(
    ("results", "on"),
    [
        ([T, T, T, T], date(2026, 12, 15)),
        ([T, T, T], date(2026, 6, 15)),
        ([T, T], date(2026, 3, 15)),
        ([T], date(2025, 3, 15)),
    ],
)
def test_too_few_perspectives_is_an_error(results: list[bool | None], on: date) -> None:
    with pytest.raises(TooFewPerspectives, match="requires at least"):
        corroborated(True, results, on)


@pytest.mark.parametrize(
    ("results", "rirs", "on", "verdict"),
    [
        ([T, T, T], ["ARIN", "ARIN", "ARIN"], date(2026, 3, 15), Verdict(False, "too_few_rirs")),
        ([T, T, T], ["ARIN", "RIPE", "ARIN"], date(2026, 3, 15), Verdict(True, "corroborated")),
        ([T, T, T], ["arin", "ripe", None], date(2026, 3, 15), Verdict(True, "corroborated")),
        # Only corroborating perspectives count toward the two regions.
        ([T, T, F], ["APNIC", "APNIC", "RIPE"], date(2026, 3, 15), Verdict(False, "too_few_rirs")),
        ([T, T], ["ARIN", "ARIN"], date(2026, 3, 14), Verdict(True, "corroborated")),
    ],
)
def test_rir_diversity(results: list[bool | None], rirs: list[str | None], on: date, verdict: Verdict) -> None:
    assert corroborated(True, results, on, rirs) == verdict


def test_rirs_must_match_the_results() -> None:
    with pytest.raises(ValueError, match="every remote perspective"):
        corroborated(True, [T, T, T], date(2026, 3, 15), ["ARIN", "RIPE"])
