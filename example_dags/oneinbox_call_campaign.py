"""
Call a list of contacts with one mapped task per contact, then summarise the outcomes.

Each mapped ``place_call`` instance places at most one call (retries reattach to the call they
already placed) and waits for it in the triggerer (``wait_for_completion=True``, deferrable), so a
campaign of thousands holds no worker slots while calls are live. ``max_active_tis_per_dag`` caps
how many calls ring at once; a pool does the same across DAGs.

Contacts come from the ``contacts`` param (a list of ``{to_number, customer_name}``); in a real
pipeline they would come from an upstream task reading a CRM. Outcomes such as "Not Connected" or
"Voicemail" are results, not failures. With ``failures_as_results=True`` a call that fails to
connect, or a contact whose number is refused, is a result too (``status`` ``"failed"`` or
``"not_placed"``), so the results line up one to one with the contacts.

One mapped task expands to at most ``[core] max_map_length`` instances (1024 by default): a
longer contact list fails ``call_requests`` saying so. Raise the setting
(``AIRFLOW__CORE__MAX_MAP_LENGTH``) or split the list over several runs.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pendulum
from airflow.configuration import conf
from airflow.sdk import DAG, Param, task
from airflow.sdk.definitions.param import ParamsDict

from airflow_provider_oneinbox.operators.calls import OneInboxPlaceCallOperator

AGENT_ID = os.environ.get("ONEINBOX_AGENT_ID", "agt_sales")
FROM_NUMBER = os.environ.get("ONEINBOX_FROM_NUMBER", "+14155550100")
CONCURRENT_CALLS = int(os.environ.get("ONEINBOX_CONCURRENT_CALLS", "10"))
POLL_INTERVAL = float(os.environ.get("ONEINBOX_POLL_INTERVAL", "10"))

DEFAULT_CONTACTS = [
    {"to_number": "+14155550101", "customer_name": "Ada"},
    {"to_number": "+14155550102", "customer_name": "Grace"},
    {"to_number": "+14155550103", "customer_name": "Linus"},
    {"to_number": "+14155550107", "customer_name": "Margaret"},
    {"to_number": "+14155550110", "customer_name": "Ken"},
]

with DAG(
    dag_id="oneinbox_call_campaign",
    description="Call every contact with dynamic task mapping, then summarise the outcomes.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["oneinbox", "example"],
    doc_md=__doc__,
    params={"contacts": Param(DEFAULT_CONTACTS, type="array")},
) as dag:

    @task
    def call_requests(params: ParamsDict | None = None) -> list[dict[str, Any]]:
        """One set of place-call arguments per contact."""
        assert params is not None
        limit = conf.getint("core", "max_map_length")
        if len(params["contacts"]) > limit:
            raise ValueError(
                f"{len(params['contacts'])} contacts, but one mapped task expands to at most {limit} "
                "instances ([core] max_map_length): raise it (AIRFLOW__CORE__MAX_MAP_LENGTH) or split "
                "the contacts over several DAG runs."
            )
        return [
            {
                "to_number": contact["to_number"],
                "variables": {"customer_name": contact.get("customer_name", "there")},
                "metadata": {"campaign": "example"},
            }
            for contact in params["contacts"]
        ]

    requests = call_requests()
    calls = OneInboxPlaceCallOperator.partial(
        task_id="place_call",
        agent_id=AGENT_ID,
        from_number=FROM_NUMBER,
        wait_for_completion=True,
        poll_interval=POLL_INTERVAL,
        timeout=1800,
        analysis_grace_period=6 * POLL_INTERVAL,
        failures_as_results=True,
        max_active_tis_per_dag=CONCURRENT_CALLS,
        retries=2,
        retry_delay=pendulum.duration(seconds=5),
    ).expand_kwargs(requests)

    @task(trigger_rule="all_done")
    def summarise(
        results: list[dict[str, Any]] | None, placed: list[dict[str, Any]] | None
    ) -> dict[str, Any]:
        """Count outcomes across every call; a map index that failed anyway leaves no result."""
        if placed is None or results is None:
            message = "No calls were made: call_requests failed before any call (see its log)."
            print(message)
            return {
                "calls": 0,
                "completed": 0,
                "failed": 0,
                "not_placed": 0,
                "outcomes": {},
                "error": message,
            }
        finished = [result for result in results if result]
        statuses = Counter(result["status"] for result in finished)
        summary = {
            "calls": len(placed),
            "completed": statuses["completed"],
            "failed": statuses["failed"] + len(placed) - len(finished),
            "not_placed": statuses["not_placed"],
            "outcomes": dict(
                Counter(
                    result.get("outcome") or "Unknown"
                    for result in finished
                    if result["status"] == "completed"
                )
            ),
        }
        print(f"Campaign summary: {summary}")
        return summary

    summarise(calls.output, requests)
