"""
Deployment DAG: an asset watched by ``OneInboxCallEventTrigger`` on a simulator number receiving
inbound calls, and this DAG scheduled on it, recording every handling of every call.

Each handling appends one row ``(call_id, run_id, try_number, handled_at)`` to the table
``inbound_handlings`` of a SQLite file (``ONEINBOX_DEPLOY_INBOUND_DB``) through Airflow's common
SQL layer: an INSERT, not an upsert, so a call handled twice shows twice. The task skips the ids
it already handled with ``events.consume`` (on Airflow 3.3 recorded in the asset's state store;
on 3.1 nothing is recorded and every delivered id is handled).

Environment (read at parse time): ``ONEINBOX_DEPLOY_INBOUND_NUMBER`` (the watched number),
``ONEINBOX_DEPLOY_INBOUND_DB`` (the SQLite file), ``ONEINBOX_DEPLOY_POLL_INTERVAL``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_oneinbox.triggers.call_events import OneInboxCallEventTrigger

NUMBER = os.environ.get("ONEINBOX_DEPLOY_INBOUND_NUMBER", "+14155550907")
DB_PATH = os.environ.get("ONEINBOX_DEPLOY_INBOUND_DB", "/tmp/oneinbox-deploy-inbound.db")
POLL_INTERVAL = float(os.environ.get("ONEINBOX_DEPLOY_POLL_INTERVAL", "2"))
ASSET_NAME = "deploy_inbound_calls"

inbound = Asset(
    ASSET_NAME,
    watchers=[
        AssetWatcher(
            name="deploy_inbound",
            trigger=OneInboxCallEventTrigger(
                phone_number=NUMBER, direction="inbound", ready="analysed", poll_interval=POLL_INTERVAL
            ),
        )
    ],
)

with DAG(
    dag_id="deploy_inbound_calls",
    schedule=[inbound],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["oneinbox", "deployment"],
) as dag:

    @task(inlets=[inbound], retries=3, retry_delay=pendulum.duration(seconds=2))
    def handle(**context: Any) -> list[str]:
        """Append a row per call handled; the ids handled."""
        from airflow.providers.sqlite.hooks.sqlite import SqliteHook

        from airflow_provider_oneinbox.events.consume import calls_to_handle, record_handled

        os.environ["AIRFLOW_CONN_DEPLOY_INBOUND_DB"] = json.dumps({"conn_type": "sqlite", "host": DB_PATH})
        db = SqliteHook(sqlite_conn_id="deploy_inbound_db")
        db.run(
            "CREATE TABLE IF NOT EXISTS inbound_handlings "
            "(call_id TEXT NOT NULL, run_id TEXT, try_number INTEGER, handled_at TEXT)"
        )
        ti = context["ti"]
        handled = []
        for call_id in calls_to_handle(context, inbound):
            row = (call_id, ti.run_id, ti.try_number, pendulum.now("UTC").isoformat())
            db.insert_rows("inbound_handlings", [row], ["call_id", "run_id", "try_number", "handled_at"])
            record_handled(context, [call_id], inbound)
            handled.append(call_id)
        return handled

    handle()
