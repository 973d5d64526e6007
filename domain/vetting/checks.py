"""The checks the vetting desk records by hand (S-2 審査): what may be recorded, and which count.

- ``organization``: the organization's identity (BR 3.2.2.1; OV), from a registry look-up (e.g. the
  National Tax Agency's 法人番号公表サイト) or documents received.
- ``phone_callback``: a verified call to a number from a reliable source (BR 3.2.5, validation of
  authority).
- EV (EV Guidelines 11): ``ev_legal_existence`` (11.2), ``ev_operational_existence`` (11.5),
  ``ev_signer_authority`` (11.8).

A confirmed check counts for its application; for a later application of the same customer it is
reused while BR 4.2.1 allows and the organization is unchanged (the identity facts it confirmed
are the same); anything else needs a new check.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from domain.text import line_problem
from domain.vetting.periods import identity_reusable

EV_CHECKS = ("ev_legal_existence", "ev_operational_existence", "ev_signer_authority")
CHECKS = ("organization", "phone_callback", *EV_CHECKS)
OUTCOMES = ("confirmed", "not_confirmed")
# Where a check's facts came from; the desk picks one (each has a catalogue label vet_source_<code>).
SOURCES: dict[str, tuple[str, ...]] = {
    "organization": ("nta_corporate_number", "commercial_registry", "documents_received", "qiis"),
    "phone_callback": ("commercial_registry", "telephone_directory", "qiis", "documents_received"),
    "ev_legal_existence": ("commercial_registry", "documents_received"),
    "ev_operational_existence": ("commercial_registry", "bank_confirmation", "documents_received", "qiis"),
    "ev_signer_authority": ("documents_received", "commercial_registry", "legal_opinion"),
}
# The identity facts a confirmed check vouches for: a later application with other values
# (another name, address or corporate number) is a changed organization and is checked anew.
IDENTITY_FIELDS = ("name", "registration_number", "country", "state", "locality", "address", "phone")
REFERENCE_MAX, NOTE_MAX = 200, 2000


@dataclass(frozen=True)
class RecordedCheck:
    check: str
    outcome: str
    checked_at: datetime
    organization: Mapping[str, str]  # the identity facts it confirmed
    application_id: int
    source: str = ""


@dataclass(frozen=True)
class CountingCheck:
    """The check that counts for an application, and whether it was reused from an earlier one."""

    check: str
    checked_at: datetime
    source: str
    reused_from: int | None  # the application it was recorded for, when not this one


def refusal(check: str, source: str, reference: str, outcome: str, note: str) -> tuple[str, str] | None:
    """Why this entry cannot be recorded: (field, code); None when it can."""
    if check not in CHECKS:
        return "check", "vet_check_unknown"
    if source not in SOURCES[check]:
        return "source", "vet_check_source"
    if outcome not in OUTCOMES:
        return "outcome", "vet_check_outcome"
    if check == "phone_callback" and not reference.strip():
        return "reference", "vet_check_number_required"  # the number called is the evidence
    if len(reference) > REFERENCE_MAX:
        return "reference", "vet_check_too_long"
    if line_problem(reference, REFERENCE_MAX, False):
        return "reference", "vet_check_characters"  # evidence must read as what it is: no hidden text
    if outcome == "not_confirmed" and not note.strip():
        return "note", "vet_check_note_required"
    if len(note) > NOTE_MAX:
        return "note", "vet_check_too_long"
    if any(line_problem(line, NOTE_MAX, False) for line in note.replace("\r\n", "\n").split("\n")):
        return "note", "vet_check_characters"
    return None


def _fold(value: object) -> str:
    # 株式会社ＡＢＣ and 株式会社ABC, trailing spaces: the same organization.
    return " ".join(unicodedata.normalize("NFKC", str(value or "")).split()).casefold()


def identity(organization: Mapping[str, object]) -> dict[str, str]:
    """The identity facts of an application's organization, as a check records them."""
    return {f: _fold(organization.get(f, "")) for f in IDENTITY_FIELDS}


def counting(check: str, application_id: int, organization: Mapping[str, object],
             recorded: Iterable[RecordedCheck], issuance_at: datetime) -> CountingCheck | None:
    """The newest confirmed check of this kind that may back an issuance at ``issuance_at``.

    This application's own last word wins: a "not confirmed" recorded on it after a confirmation
    (its own or reusable) means nothing counts.
    """
    facts = identity(organization)
    own = [r for r in recorded if r.check == check and r.application_id == application_id]
    if own:
        last = max(own, key=lambda r: r.checked_at)
        if last.outcome != "confirmed":
            return None
        if identity_reusable(last.checked_at, issuance_at):
            return CountingCheck(check, last.checked_at, last.source, None)
    # The same organization's newest word on another application: a later "not confirmed" there
    # outweighs an older confirmation.
    earlier = [r for r in recorded if r.check == check and r.application_id != application_id
               and identity(r.organization) == facts]
    if not earlier:
        return None
    best = max(earlier, key=lambda r: r.checked_at)
    if best.outcome != "confirmed" or not identity_reusable(best.checked_at, issuance_at):
        return None
    return CountingCheck(check, best.checked_at, best.source, best.application_id)
