"""
The escalation DAG ``OneInboxCallNotifier(escalation_numbers=[...])`` starts: deploy it beside your DAGs.

One run per notification (run id ``escalation__<notification key>``; the notifier starts it once the
first call exists). It waits for the first call without holding a worker (deferrable sensor), and
while no call ends with an acknowledging outcome it calls the next number (a place-call task that
waits deferrably too), until one acknowledges or the numbers run out. Every call is placed by a
worker, at most once per step. Its conf, written by the notifier::

    {"first_call_id": "...", "numbers": ["+1...", ...], "acknowledge_outcomes": ["Acknowledged"],
     "agent_id": "...", "from_number": "+1...", "variables": {...}}

Environment: ``ONEINBOX_ANSWER_TIMEOUT`` (seconds each call has to end with an outcome, default
600: a call still going then is left alone and the next number is called) and
``ONEINBOX_POLL_INTERVAL`` (seconds between status checks, default 10).
"""

from __future__ import annotations

import os

from airflow_provider_oneinbox.notifications.calls import DEFAULT_ESCALATION_DAG_ID
from airflow_provider_oneinbox.notifications.escalation import escalation_dag

dag = escalation_dag(
    DEFAULT_ESCALATION_DAG_ID,
    answer_timeout=float(os.environ.get("ONEINBOX_ANSWER_TIMEOUT", "600")),
    poll_interval=float(os.environ.get("ONEINBOX_POLL_INTERVAL", "10")),
)
