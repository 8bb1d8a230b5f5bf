"""
Phone the approver when a human-in-the-loop step waits for them (Airflow 3.1+, standard provider).

``approve_refund`` is an ``ApprovalOperator``: it writes an approval request and waits (no worker
held). Its ``notifiers`` include a ``OneInboxCallNotifier``, run once when the request is made: a
OneInbox agent calls the approver, says which DAG run waits for whom (``approval_subject``,
``approval_options``) and gives the link to the task. Approve or reject in the Airflow UI ("Required
actions"); ``issue_refund`` runs only when approved.

Environment: ``ONEINBOX_APPROVER_NUMBER``, ``ONEINBOX_AGENT_ID``, ``ONEINBOX_FROM_NUMBER``,
``ONEINBOX_APPROVAL_TIMEOUT`` (seconds before the default, Reject, applies; default 3600);
connection ``oneinbox_default``.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_oneinbox.notifications.calls import OneInboxCallNotifier

try:
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    HITL_OPERATORS = True
except ImportError:  # Airflow 3.0, or a standard provider before its human-in-the-loop operators
    HITL_OPERATORS = False

call_approver = OneInboxCallNotifier(
    to_number=os.environ.get("ONEINBOX_APPROVER_NUMBER", "+14155550101"),
    agent_id=os.environ.get("ONEINBOX_AGENT_ID", "agt_support"),
    from_number=os.environ.get("ONEINBOX_FROM_NUMBER", "+14155550100"),
    variables={"amount": "{{ dag_run.conf.get('amount', '120.00') }} USD"},
)

if HITL_OPERATORS:
    with DAG(
        dag_id="oneinbox_notify_approval",
        description="A human-in-the-loop approval phones the approver through OneInbox.",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        tags=["oneinbox", "example", "notifications"],
        doc_md=__doc__,
    ) as dag:
        approve = ApprovalOperator(
            task_id="approve_refund",
            subject="Refund {{ dag_run.conf.get('amount', '120.00') }} USD to order {{ run_id }}?",
            defaults="Reject",
            response_timeout=pendulum.duration(
                seconds=float(os.environ.get("ONEINBOX_APPROVAL_TIMEOUT", "3600"))
            ),
            notifiers=[call_approver],
        )

        @task
        def issue_refund() -> str:
            return "refund issued"

        approve >> issue_refund()
