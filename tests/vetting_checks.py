"""The vetting desk's checks, recorded the way staff do before approving (tests' shared steps)."""

from typing import Any

import httpx

ORGANIZATION = {"check": "organization", "source": "nta_corporate_number", "reference": "法人番号 5010401089998",
                "outcome": "confirmed"}
PHONE_CALLBACK = {"check": "phone_callback", "source": "telephone_directory", "reference": "03-1234-5678",
                  "outcome": "confirmed", "note": "代表番号から申請責任者に確認"}
OV_CHECKS = (ORGANIZATION, PHONE_CALLBACK)
EV_CHECKS = (*OV_CHECKS,
             {"check": "ev_legal_existence", "source": "commercial_registry", "outcome": "confirmed"},
             {"check": "ev_operational_existence", "source": "qiis", "outcome": "confirmed"},
             {"check": "ev_signer_authority", "source": "documents_received", "outcome": "confirmed",
              "reference": "委任状 2026-117"})


async def record_checks(http: httpx.AsyncClient, task_id: int, headers: dict[str, str] | None = None,
                        entries: tuple[dict[str, Any], ...] = OV_CHECKS) -> dict[str, Any]:
    """Records each check on the review task through the JSON API; the last answer."""
    answer: dict[str, Any] = {}
    for entry in entries:
        r = await http.post(f"/api/v1/tasks/{task_id}/checks", json=entry, headers=headers or {})
        assert r.status_code == 200, r.text
        answer = r.json()
    return answer
