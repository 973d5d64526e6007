"""「お申込みを受け付けました」: every application (new, renewal, replacement, switch, reissue, contact
change, revocation) is confirmed to the customer by mail as its process starts.

Runs started before this existed mail nothing (``workflow.patched``): their histories have no such step.
"""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.applications import ApplicationActivities

ACTIVITY_TIMEOUT = timedelta(minutes=2)


async def confirm_received(application_id: int) -> None:
    if workflow.patched("received-mail"):
        await workflow.execute_activity_method(
            ApplicationActivities.mail_application_event, args=[application_id, "received"],
            start_to_close_timeout=ACTIVITY_TIMEOUT)
