"""Multi-Perspective Issuance Corroboration (BR 3.2.2.9, TLS BR v2.3.0; introduced by SC-067).

Remote Network Perspectives repeat the Primary Network Perspective's domain validation or CAA
check; issuance waits until enough of them agree. The quorum is met separately for the domain
control set and the CAA set when they differ, so a caller asks once per set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from domain.vetting.periods import utc_day

# "Quorum Requirements" table: (at least this many remote perspectives used, allowed
# non-corroborations), largest first. Below two remote perspectives the table says nothing, so
# nothing may fail.
QUORUM: tuple[tuple[int, int], ...] = ((6, 2), (2, 1))

# Perspectives count as distinct only 500 km apart (so do the DNS resolvers they use).
MIN_DISTANCE_KM = 500
REGIONAL_INTERNET_REGISTRIES = frozenset({"AFRINIC", "APNIC", "ARIN", "LACNIC", "RIPE"})


@dataclass(frozen=True)
class Phase:
    """One step of the "Phased Implementation Timeline"."""

    starts: date
    min_remote: int  # remote perspectives that must be used
    enforced: bool  # False: a failed quorum is logged, issuance may go on
    min_rirs: int  # distinct RIR service regions among the corroborating perspectives


# Newest first; before 2025-03-15 MPIC was not required.
PHASES: tuple[Phase, ...] = (
    Phase(date(2026, 12, 15), 5, True, 2),
    Phase(date(2026, 6, 15), 4, True, 2),
    Phase(date(2026, 3, 15), 3, True, 2),
    Phase(date(2025, 9, 15), 2, True, 1),
    Phase(date(2025, 3, 15), 2, False, 1),
)
_NOT_REQUIRED = Phase(date.min, 0, False, 0)


class TooFewPerspectives(ValueError):
    """Fewer remote perspectives were asked than the BR requires on that date: a set-up error, not a verdict."""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason_code: str  # corroborated | primary_failed | quorum_failed | quorum_failed_monitored | too_few_rirs


def phase(on: date | datetime) -> Phase:
    day = utc_day(on)
    return next((p for p in PHASES if day >= p.starts), _NOT_REQUIRED)


def min_remote_perspectives(on: date | datetime) -> int:
    return phase(on).min_remote


def allowed_non_corroborations(used: int) -> int:
    return next((allowed for at_least, allowed in QUORUM if used >= at_least), 0)


def corroborated(
    primary_ok: bool,
    remote_results: Sequence[bool | None],
    on: date | datetime,
    rirs: Sequence[str | None] | None = None,
) -> Verdict:
    """Whether the remote perspectives corroborate a passing primary determination on ``on``.

    ``remote_results`` holds one entry per remote perspective asked: True when it saw the same
    thing as the primary; False, or None for no answer (timeout, error), when it did not.
    ``rirs``, when given, names each perspective's RIR region in the same order; from 2026-03-15
    the corroborating ones must span two regions.
    """
    p = phase(on)
    if len(remote_results) < p.min_remote:
        raise TooFewPerspectives(
            f"{len(remote_results)} remote network perspectives used; BR 3.2.2.9 requires at least "
            f"{p.min_remote} from {p.starts.isoformat()}"
        )
    if not primary_ok:
        return Verdict(False, "primary_failed")
    failures = sum(1 for result in remote_results if result is not True)
    if failures > allowed_non_corroborations(len(remote_results)):
        # Between 2025-03-15 and 2025-09-14 a failed quorum did not stop issuance.
        return Verdict(not p.enforced, "quorum_failed" if p.enforced else "quorum_failed_monitored")
    if rirs is not None:
        if len(rirs) != len(remote_results):
            raise ValueError("rirs must name the region of every remote perspective, in the same order")
        regions = {rir.upper() for rir, result in zip(rirs, remote_results, strict=True) if result is True and rir}
        if len(regions) < p.min_rirs:
            return Verdict(False, "too_few_rirs")
    return Verdict(True, "corroborated")
