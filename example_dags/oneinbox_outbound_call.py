"""
Place one outbound call with a OneInbox agent, wait for it without holding a worker, report on it.

Steps: store the carrier integration, register the caller-ID number for the agent (idempotent,
so the DAG can run on a schedule), place the call with per-run ``variables``, wait for it with
the deferrable sensor, then read the transcript and analysis from XCom.

Configuration comes from the environment, so the DAG runs unchanged against the real API or the
bundled simulator (``scripts/demo`` starts one):

- connection ``oneinbox_default``: ``AIRFLOW_CONN_ONEINBOX_DEFAULT`` (see the README);
- connection ``oneinbox_carrier``: the carrier (e.g. Twilio) key in its password field;
- ``ONEINBOX_AGENT_ID`` and ``ONEINBOX_FROM_NUMBER``: the agent and the registered caller ID;
- ``ONEINBOX_POLL_INTERVAL``: seconds between status checks (default 10).

Trigger with ``{"to_number": "+1415555...", "customer_name": "...", "order_id": "..."}`` to call
someone else; with the simulator, the last two digits of ``to_number`` choose the scenario.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_oneinbox.operators.calls import OneInboxPlaceCallOperator
from airflow_provider_oneinbox.operators.credentials import OneInboxCreateCredentialOperator
from airflow_provider_oneinbox.operators.phone_numbers import OneInboxRegisterPhoneNumberOperator
from airflow_provider_oneinbox.sensors.calls import OneInboxCallSensor
from airflow_provider_oneinbox.validation import E164_PATTERN

AGENT_ID = os.environ.get("ONEINBOX_AGENT_ID", "agt_sales")
FROM_NUMBER = os.environ.get("ONEINBOX_FROM_NUMBER", "+14155550100")
POLL_INTERVAL = float(os.environ.get("ONEINBOX_POLL_INTERVAL", "10"))

with DAG(
    dag_id="oneinbox_outbound_call",
    description="Place one OneInbox call, wait for it, report the transcript and analysis.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["oneinbox", "example"],
    doc_md=__doc__,
    params={
        "to_number": Param("+14155550101", type="string", pattern=E164_PATTERN.pattern),
        "customer_name": Param("Sama", type="string"),
        "order_id": Param("ORD-001", type="string"),
    },
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=5)},
) as dag:
    carrier = OneInboxCreateCredentialOperator(
        task_id="store_carrier_integration",
        name="Example carrier",
        provider="twilio",
        carrier_api_key="{{ conn.oneinbox_carrier.password }}",
    )

    caller_id = OneInboxRegisterPhoneNumberOperator(
        task_id="register_number",
        phone_number=FROM_NUMBER,
        agent_id=AGENT_ID,
        provider="twilio",
        credential_id=carrier.output,
        friendly_name="Example sales line",
    )

    place_call = OneInboxPlaceCallOperator(
        task_id="place_call",
        agent_id=AGENT_ID,
        to_number="{{ params.to_number }}",
        from_number=FROM_NUMBER,
        variables={"customer_name": "{{ params.customer_name }}", "order_id": "{{ params.order_id }}"},
        metadata={"source": "airflow-example"},
    )

    wait_for_call = OneInboxCallSensor(
        task_id="wait_for_call",
        call_id=place_call.output,
        poke_interval=POLL_INTERVAL,
        timeout=1800,
        analysis_grace_period=6 * POLL_INTERVAL,
    )

    @task
    def report(ti: Any = None) -> dict[str, Any]:
        """Log a short report built from the transcript and analysis the sensor left in XCom."""
        transcript = ti.xcom_pull(task_ids="wait_for_call", key="transcript")
        analysis = ti.xcom_pull(task_ids="wait_for_call", key="analysis") or {}
        result = ti.xcom_pull(task_ids="wait_for_call")
        print(f"Call {result['call_id']}: {result['status']}, {result['duration_seconds']} s")
        print(f"Outcome: {analysis.get('outcome')}\nSummary: {analysis.get('summary')}")
        print(f"Transcript:\n{transcript}")
        return {"call_id": result["call_id"], "outcome": analysis.get("outcome")}

    caller_id >> place_call
    wait_for_call >> report()
