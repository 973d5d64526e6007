"""Login method change notice (L-5): the account pages changed a user's login method; tell them.

One step, so that the mail goes out (and is retried) by the worker, as every mail does.
"""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.login_methods import LoginMethodActivities, LoginMethodChange

ACTIVITY_TIMEOUT = timedelta(minutes=2)


def workflow_id(change: LoginMethodChange) -> str:
    return f"login-method-{change.login_user_id}-{change.changed_at}"


@workflow.defn
class LoginMethodNotice:
    @workflow.run
    async def run(self, change: LoginMethodChange) -> bool:
        return await workflow.execute_activity_method(
            LoginMethodActivities.mail_login_method_changed, change, start_to_close_timeout=ACTIVITY_TIMEOUT)
