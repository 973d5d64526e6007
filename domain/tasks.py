"""Kinds of human task (T-2): who may complete them and with which outcomes.

One table, read by the workflows' update validators, the API (422 for a bad outcome)
and the desk (the outcome buttons), so the three can never disagree.
"""

from dataclasses import dataclass

SUPPORT, SUPERVISOR = "support", "supervisor"
STAFF_ROLES = (SUPPORT, SUPERVISOR)
TASK_STATES = ("open", "claimed", "done")


@dataclass(frozen=True)
class TaskKind:
    name: str
    outcomes: tuple[str, ...]
    roles: tuple[str, ...] = STAFF_ROLES
    # Outcomes that need a note saying why (a rejection is explained to the customer).
    note_required: tuple[str, ...] = ()


KINDS: dict[str, TaskKind] = {
    k.name: k
    for k in (
        TaskKind("application_review", ("approve", "reject", "request_documents"),
                 note_required=("reject", "request_documents")),
        TaskKind("documents_check", ("received", "reject"), note_required=("reject",)),
        TaskKind("revocation_phone_confirmation", ("confirmed", "rejected"), note_required=("rejected",)),
        TaskKind("password_reset", ("reset", "reject"), note_required=("reject",)),
        TaskKind("reissue_unlock", ("unlock", "reject"), note_required=("reject",)),
        # 「ダウンロードパスワードを忘れた」 locked after wrong secret answers (the download stays open).
        TaskKind("download_answer_unlock", ("unlock", "reject"), note_required=("reject",)),
        TaskKind("login_reissue_new_person", ("approve", "reject"), note_required=("reject",)),
        # 担当者変更申請 (S-5): the contract's contacts change when staff approve.
        TaskKind("contact_change_review", ("approve", "reject"), note_required=("reject",)),
    )
}


# Facts the desk shows by a label (``fact_<name>``) rather than by their key, and facts that are
# yes/no (shown as ``fact_value_yes``/``fact_value_no``).
LABELLED_FACTS = ("access_key", "organization", "reseller_code_on_file", "reseller_code_stated",
                  "reseller_code_matches", "new_person_name", "new_person_email", "current_certificate",
                  "requested_by", "expected_by")
YES_NO_FACTS = ("reseller_code_matches",)


class TaskRefused(ValueError):
    """Why a completion cannot be taken; the message is shown to the person as it is."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # not_open | bad_outcome | forbidden | note_required | unknown_task


def check_completion(kind: str, state: str, outcome: str, role: str, note: str) -> None:
    """Raises TaskRefused unless this person may complete this task with this outcome now."""
    spec = KINDS.get(kind)
    if spec is None:
        raise TaskRefused("unknown_task", f"unknown task kind {kind!r}")
    if state == "done":
        raise TaskRefused("not_open", "this task has already been completed")
    if outcome not in spec.outcomes:
        raise TaskRefused("bad_outcome", f"outcome must be one of: {', '.join(spec.outcomes)}")
    if role not in spec.roles:
        raise TaskRefused("forbidden", f"the {role} role may not complete a {kind} task")
    if outcome in spec.note_required and not note.strip():
        raise TaskRefused("note_required", f"a note is required for the outcome {outcome!r}")
    if len(note) > 2000:
        raise TaskRefused("note_too_long", "the note may be at most 2000 characters")
