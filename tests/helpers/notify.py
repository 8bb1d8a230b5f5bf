"""DAGs whose tasks fail and phone someone through ``OneInboxCallNotifier``, and reading the calls back."""

from __future__ import annotations

from typing import Any

from tests.helpers.calls import AGENT, FROM

#: Numbers of the simulator's scenarios (last two digits): answered "Appointment Booked", not answered.
ON_CALL = "+14157080101"
NOT_ANSWERING = "+14157080102"
BACKUP = "+14157080201"

NOTIFY_PRELUDE = f"""
from airflow_provider_oneinbox.notifications.calls import OneInboxCallNotifier

AGENT = {AGENT!r}
FROM = {FROM!r}


@task
def explode():
    raise ValueError("disk full on /data\\nTraceback line that must not reach the agent")
"""


def notifier_source(**kwargs: Any) -> str:
    """``OneInboxCallNotifier(...)`` as source, with the test agent and caller number unless given."""
    arguments = {"agent_id": AGENT, "from_number": FROM, **kwargs}
    return "OneInboxCallNotifier(" + ", ".join(f"{name}={value!r}" for name, value in arguments.items()) + ")"
