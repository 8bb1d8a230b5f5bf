"""
Deployment DAG: a campaign as ONE ``OneInboxCampaignOperator`` task (deferrable).

Run conf (or params): ``n`` contacts (numbers as in ``deploy_mapped_campaign``), the caps
``max_concurrent_calls`` and ``calls_per_minute``, ``poll_interval``, ``min_defer_seconds``,
``results_path`` (JSON Lines, one row per contact). The operator's caps are not templated, so
this DAG's subclass reads them from the run's params when the task starts or resumes.
Retries: a killed task process's try is retried and rebuilds from the campaign ledger.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_oneinbox.operators.campaigns import OneInboxCampaignOperator

#: The executor queue of the campaign task (see deploy_mapped_campaign); unset: the default queue.
QUEUE = os.environ.get("ONEINBOX_DEPLOY_QUEUE") or os.environ.get(
    "AIRFLOW__OPERATORS__DEFAULT_QUEUE", "default"
)
SUFFIXES = ["01", "03", "07", "10", "11", "12", "13", "14", "15", "16"]


class CampaignFromParams(OneInboxCampaignOperator):
    """The campaign operator with its caps and timings taken from the run's params."""

    def _apply_params(self, context: Any) -> None:
        params = context["params"]
        self.max_concurrent_calls = int(params["max_concurrent_calls"])
        self.calls_per_minute = float(params["calls_per_minute"])
        self.poll_interval = float(params["poll_interval"])
        self.min_defer_seconds = float(params["min_defer_seconds"])
        self.analysis_grace_period = float(params["analysis_grace_period"])
        self.progress_interval = 10.0
        self.results_path = self.results_path or None

    def execute(self, context: Any) -> dict[str, Any]:
        self._apply_params(context)
        return super().execute(context)

    def execute_complete(
        self, context: Any, event: dict[str, Any] | None = None, last_start: str | None = None
    ) -> dict[str, Any]:
        self._apply_params(context)
        return super().execute_complete(context, event, last_start)


with DAG(
    dag_id="deploy_campaign_operator",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "n": Param(10, type="integer", minimum=1, maximum=100000),
        "prefix": Param("+141555", type="string"),
        "suffixes": Param(SUFFIXES, type="array"),
        "agent_id": Param("agt_support", type="string"),
        "max_concurrent_calls": Param(4, type="integer", minimum=1),
        "calls_per_minute": Param(60, type="number", exclusiveMinimum=0),
        "poll_interval": Param(2.0, type="number", exclusiveMinimum=0),
        "min_defer_seconds": Param(2.0, type="number", minimum=0),
        "analysis_grace_period": Param(20.0, type="number", minimum=0),
        "results_path": Param("", type="string"),
    },
    tags=["oneinbox", "deployment"],
) as dag:
    # Any task on a lost worker dies with it; every task here retries, as in a real deployment.
    # Its own task id: the Celery test tells killed tasks of both DAGs apart by task id.
    @task(task_id="campaign_contacts", retries=3, retry_delay=pendulum.duration(seconds=3))
    def contacts(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The campaign's contacts."""
        assert params is not None
        suffixes = params["suffixes"]
        return [
            {
                "to_number": f"{params['prefix']}{i // len(suffixes):03d}{suffixes[i % len(suffixes)]}",
                "variables": {"customer_name": f"contact {i}"},
            }
            for i in range(params["n"])
        ]

    CampaignFromParams(
        task_id="campaign",
        agent_id="{{ params.agent_id }}",
        from_number="+14155550100",
        contacts=contacts(),
        results_path="{{ params.results_path }}",
        deferrable=True,
        # Besides the kills: Airflow 3.3 fails a try whose deferral resumed before the executor
        # reported the deferring workload (apache/airflow#67287, #72716); the ledger makes a
        # retry safe, never a second dial.
        retries=6,
        retry_delay=pendulum.duration(seconds=3),
        queue=QUEUE,
    )
