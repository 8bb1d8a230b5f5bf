"""
Phone the on-call engineer when a DAG run is late: a Deadline Alert whose callback is the notifier.

``nightly_report`` should finish within ``ONEINBOX_LATE_AFTER`` seconds of being queued (default
30 minutes). When a run misses that deadline, Airflow runs the alert's callback: a
``SyncCallback(OneInboxCallNotifier, kwargs=...)``, which Airflow 3.3+ runs on an executor's worker
(not the triggerer), where the call is placed. The agent is told the DAG, the run, the deadline and
the link to the run. One call per missed deadline, however often the callback runs.

Why ``SyncCallback`` and not ``AsyncCallback``: an ``AsyncCallback`` runs in the triggerer, and this
provider never sends ``POST /v1/calls`` from the triggerer (a restart or handover would run it again);
the notifier's ``async_notify`` refuses and says so. Airflow 3.1 runs only ``AsyncCallback`` Deadline
Alerts, so on 3.1 this DAG is defined without its deadline (it still runs).

Environment: ``ONEINBOX_ON_CALL_NUMBER``, ``ONEINBOX_AGENT_ID``, ``ONEINBOX_FROM_NUMBER``,
``ONEINBOX_LATE_AFTER`` (seconds), ``ONEINBOX_REPORT_SECONDS`` (how long the report takes, default 5);
connection ``oneinbox_default``.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

import airflow
import pendulum
from airflow.sdk import DAG, task
from packaging.version import Version

from airflow_provider_oneinbox.notifications.calls import OneInboxCallNotifier

#: The notifier's arguments: the Deadline Alert stores them with the DAG and builds the notifier when
#: the deadline passes (no secrets here: the key stays in the connection).
NOTIFIER_KWARGS: dict[str, Any] = {
    "to_number": os.environ.get("ONEINBOX_ON_CALL_NUMBER", "+14155550101"),
    "agent_id": os.environ.get("ONEINBOX_AGENT_ID", "agt_support"),
    "from_number": os.environ.get("ONEINBOX_FROM_NUMBER", "+14155550100"),
    "variables": {"team": "reporting"},
}
#: Whether Airflow runs a Deadline Alert's SyncCallback on an executor (3.3 does; 3.1 runs only
#: AsyncCallbacks, in the triggerer).
SYNC_DEADLINE_CALLBACKS = Version(airflow.__version__).release >= (3, 3)


def _deadline() -> Any:
    if not SYNC_DEADLINE_CALLBACKS:
        return None
    from airflow.sdk.definitions.callback import SyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(seconds=float(os.environ.get("ONEINBOX_LATE_AFTER", "1800"))),
        callback=SyncCallback(OneInboxCallNotifier, kwargs=NOTIFIER_KWARGS),
    )


with DAG(
    dag_id="oneinbox_notify_deadline",
    description="A Deadline Alert phones the on-call engineer when the nightly report runs late.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["oneinbox", "example", "notifications"],
    doc_md=__doc__,
    deadline=_deadline(),
) as dag:

    @task
    def nightly_report() -> str:
        time.sleep(float(os.environ.get("ONEINBOX_REPORT_SECONDS", "5")))
        return "report written"

    nightly_report()
