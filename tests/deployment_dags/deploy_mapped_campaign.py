"""
Deployment DAG: a campaign as one mapped ``OneInboxPlaceCallOperator`` instance per contact,
each waiting for its call in the triggerer (``wait_for_completion=True``, deferrable).

Run conf (or params): ``n`` contacts, numbers ``prefix`` + a 3-digit counter + a 2-digit
scenario suffix from ``suffixes`` (the simulator picks the call's scenario by the last two
digits). The concurrency cap is ``max_active_tis_per_dag``, fixed when the file is parsed:
``ONEINBOX_DEPLOY_CONCURRENCY`` in the deployment's environment (deferred instances count).
``ONEINBOX_DEPLOY_QUEUE``: the calling tasks' executor queue (the CeleryExecutor test's own queue).
Retries: a killed task process's instance is retried, and reattaches to its call through the
ledger instead of dialling again.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_oneinbox.operators.calls import OneInboxPlaceCallOperator

CONCURRENCY = int(os.environ.get("ONEINBOX_DEPLOY_CONCURRENCY", "4"))
POLL_INTERVAL = float(os.environ.get("ONEINBOX_DEPLOY_POLL_INTERVAL", "2"))
#: The executor queue of the calling tasks (CeleryExecutor: the workers' and the triggerer's
#: ``--queues``); unset: Airflow's default queue.
QUEUE = os.environ.get("ONEINBOX_DEPLOY_QUEUE") or os.environ.get(
    "AIRFLOW__OPERATORS__DEFAULT_QUEUE", "default"
)
SUFFIXES = ["01", "03", "07", "10", "11", "12", "13", "14", "15", "16"]

with DAG(
    dag_id="deploy_mapped_campaign",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=64,
    params={
        "n": Param(10, type="integer", minimum=1, maximum=1000),
        "prefix": Param("+141555", type="string"),
        "suffixes": Param(SUFFIXES, type="array"),
        "agent_id": Param("agt_sales", type="string"),
    },
    tags=["oneinbox", "deployment"],
) as dag:
    # Any task on a lost worker dies with it; every task here retries, as in a real deployment.
    @task(retries=3, retry_delay=pendulum.duration(seconds=3))
    def contacts(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One place-call request per contact."""
        assert params is not None
        suffixes = params["suffixes"]
        return [
            {
                "to_number": f"{params['prefix']}{i // len(suffixes):03d}{suffixes[i % len(suffixes)]}",
                "variables": {"customer_name": f"contact {i}"},
                "metadata": {"campaign": "deployment-mapped"},
            }
            for i in range(params["n"])
        ]

    OneInboxPlaceCallOperator.partial(
        task_id="place_call",
        agent_id="{{ params.agent_id }}",
        from_number="+14155550100",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=1800,
        analysis_grace_period=10 * POLL_INTERVAL,
        failures_as_results=True,
        max_active_tis_per_dag=CONCURRENCY,
        retries=3,
        retry_delay=pendulum.duration(seconds=3),
        queue=QUEUE,
    ).expand_kwargs(contacts())
