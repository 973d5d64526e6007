"""The table of what a customer may do with an application record (domain/application_actions.py)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.application_actions import ACTIONS, ApplicationFacts, allowed, refusal

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=25)
ISSUED = ApplicationFacts("new", "issued", "ov", NOW - timedelta(days=3), has_certificate=True)

CASES = [
    # (facts, {action: expected refusal or None})
    (ISSUED, {"download": None, "cancel": "not_cancellable", "reissue": None, "revoke": None}),
    (replace(ISSUED, status="received", issued_at=None, has_certificate=False),
     {"download": "not_issued", "cancel": None, "reissue": "not_issued", "revoke": "not_issued"}),
    (replace(ISSUED, status="documents_pending", issued_at=None, has_certificate=False),
     {"download": "not_issued", "cancel": None, "reissue": "not_issued", "revoke": "not_issued"}),
    (replace(ISSUED, status="validating", issued_at=None, has_certificate=False),
     {"download": "not_issued", "cancel": None, "reissue": "not_issued", "revoke": "not_issued"}),
    (replace(ISSUED, status="reviewing", issued_at=None, has_certificate=False), {"cancel": None}),
    (replace(ISSUED, status="returned", issued_at=None, has_certificate=False),
     {"download": "not_issued", "cancel": "not_cancellable", "reissue": "not_issued", "revoke": "not_issued"}),
    (replace(ISSUED, status="rejected", issued_at=None, has_certificate=False),
     {"download": "not_issued", "cancel": "not_cancellable", "reissue": "not_issued", "revoke": "not_issued"}),
    (replace(ISSUED, status="cancelled", issued_at=None, has_certificate=False),
     {"download": "not_issued", "cancel": "not_cancellable", "reissue": "not_issued", "revoke": "not_issued"}),
    (replace(ISSUED, issued_at=NOW - WINDOW - timedelta(seconds=1)),
     {"reissue": "reissue_window_closed", "revoke": None, "download": None}),
    (replace(ISSUED, issued_at=NOW - WINDOW), {"reissue": None}),
    (replace(ISSUED, certificate_revoked=True),
     {"reissue": "already_revoked", "revoke": "already_revoked", "download": "already_revoked"}),
    (replace(ISSUED, reissued=True), {"reissue": "already_reissued", "revoke": None}),
    (replace(ISSUED, revocation_waiting=True), {"revoke": "revocation_pending", "reissue": None}),
    (replace(ISSUED, type="reissue"), {"reissue": None, "cancel": "not_cancellable"}),
    (replace(ISSUED, type="reissue", product="ev"), {"reissue": "ev_reissued_once", "revoke": None}),
    (replace(ISSUED, product="ev"), {"reissue": None}),
    (replace(ISSUED, type="reissue", status="received", issued_at=None, has_certificate=False),
     {"cancel": "not_cancellable", "reissue": "not_issued"}),
    (replace(ISSUED, type="revocation", status="received"),
     {"cancel": "not_cancellable", "reissue": "not_issued", "revoke": "not_issued", "download": "not_issued"}),
    (replace(ISSUED, type="contact_change"),
     {"reissue": "not_reissuable", "revoke": "not_issued", "download": "not_issued"}),
    (replace(ISSUED, type="renewal", status="received", issued_at=None, has_certificate=False), {"cancel": None}),
    (replace(ISSUED, has_certificate=False), {"download": "not_issued", "revoke": "not_issued"}),
]


@pytest.mark.parametrize(("facts", "expected"), CASES)
def test_refusals(facts: ApplicationFacts, expected: dict[str, str | None]) -> None:
    for action, code in expected.items():
        assert refusal(action, facts, NOW, WINDOW) == code, (action, facts)


@pytest.mark.parametrize(("facts", "expected"), CASES)
def test_allowed_is_the_absence_of_a_refusal(facts: ApplicationFacts, expected: dict[str, str | None]) -> None:
    actions = allowed(facts, NOW, WINDOW)
    assert set(actions) == set(ACTIONS)
    for action in ACTIONS:
        assert actions[action] is (refusal(action, facts, NOW, WINDOW) is None)


def test_unknown_action_is_a_bug() -> None:
    with pytest.raises(ValueError):
        refusal("renew_by_fax", ISSUED, NOW, WINDOW)
