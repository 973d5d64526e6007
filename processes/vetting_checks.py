"""The vetting desk's checks as the pages reach them: recorded through the application's workflow.

``record_check`` is an update on ``ServerCertApplication``: its validator refuses a check while the
application is not being vetted (``not_vetting``) or an entry the rules refuse (the codes of
``domain.vetting.checks.refusal``); the answer is what still stops approval.
"""

from activities.vetting_checks import VettingCheckEntry
from processes.client import Processes
from workflows.server_cert_application import ServerCertApplication, workflow_id


async def record_check(processes: Processes, application_id: int, check: str, source: str, reference: str,
                       outcome: str, note: str, actor: str) -> list[str]:
    """What still stops approval once the check is kept; ``Refused``, ``Closed`` or ``Unavailable``."""
    entry = VettingCheckEntry(application_id, "", check, source, reference, outcome, note, actor)
    return await processes.update(workflow_id(application_id), ServerCertApplication.record_check, entry,
                                  result_type=list[str])  # type: ignore[arg-type]
