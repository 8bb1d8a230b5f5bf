"""
Phone the on-call engineer when a task fails, and the backup if nobody acknowledges.

``load_warehouse`` fails (its source is missing); its ``on_failure_callback`` is a
``OneInboxCallNotifier``: a OneInbox agent calls the on-call number and tells them which DAG, run,
task and try failed, the error's first line and the link to the task's log (from ``[api]
base_url``). The failure callback can run more than once, and the other tasks of the run may fail
too: the on-call engineer is rung once per DAG run within the cool-down (15 minutes).

With ``ONEINBOX_ESCALATION_NUMBERS`` set, the notifier starts ``oneinbox_notify_escalation`` (deploy
``oneinbox_notify_escalation.py`` too), which calls those numbers in turn while no call ends with an
acknowledging outcome (``ONEINBOX_ACK_OUTCOMES``, default ``Acknowledged``: the outcome your agent's
analysis gives when the person says they are on it).

Environment: ``ONEINBOX_ON_CALL_NUMBER`` (with the simulator, ``...02`` is not answered, ``...01``
is), ``ONEINBOX_ESCALATION_NUMBERS`` (comma-separated), ``ONEINBOX_ACK_OUTCOMES`` (comma-separated),
``ONEINBOX_AGENT_ID``, ``ONEINBOX_FROM_NUMBER``; connection ``oneinbox_default``.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_oneinbox.notifications.calls import OneInboxCallNotifier


def _listed(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


page_on_call = OneInboxCallNotifier(
    to_number=os.environ.get("ONEINBOX_ON_CALL_NUMBER", "+14155550102"),
    agent_id=os.environ.get("ONEINBOX_AGENT_ID", "agt_support"),
    from_number=os.environ.get("ONEINBOX_FROM_NUMBER", "+14155550100"),
    variables={"team": "data platform"},
    cooldown=pendulum.duration(minutes=15),
    escalation_numbers=_listed("ONEINBOX_ESCALATION_NUMBERS", ""),
    acknowledge_outcomes=_listed("ONEINBOX_ACK_OUTCOMES", "Acknowledged"),
)

with DAG(
    dag_id="oneinbox_notify_on_failure",
    description="A failing task phones the on-call engineer through OneInbox.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["oneinbox", "example", "notifications"],
    doc_md=__doc__,
    default_args={"on_failure_callback": page_on_call},
) as dag:

    @task
    def extract() -> str:
        return "s3://warehouse/landing/2026-01-01.parquet"

    @task
    def load_warehouse(path: str) -> None:
        raise FileNotFoundError(f"{path} does not exist (the upstream export did not run)")

    load_warehouse(extract())
