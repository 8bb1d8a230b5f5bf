"""
Every analysed inbound call, loaded into a database: event-driven, one row per call.

An ``Asset`` watched by ``OneInboxCallEventTrigger`` (an ``AssetWatcher`` in the triggerer) gets
an asset event for each inbound call once it ended and its post-call data arrived; this DAG is
scheduled on the asset. For every call of every triggering event (Airflow may hand one run several
events) it reads the call with the provider's hook and upserts caller, outcome, summary and
transcript into the table ``oneinbox_inbound_calls`` through Airflow's common SQL layer
(``DbApiHook.insert_rows`` with ``replace=True`` on the call id): loading a call twice leaves one
row, so the trigger's at-least-once delivery across triggerer crashes changes nothing. On
Airflow 3.3 the task also skips calls it already loaded (``events.consume``, recorded in the
asset's state store); on 3.1/3.2 the upsert alone keeps the table right.

Configuration, from the environment (the DAG runs unchanged against the real API or the simulator):

- connection ``oneinbox_default``: the OneInbox API (see the README);
- ``ONEINBOX_INBOUND_NUMBER``: watch the calls to this number (E.164 or a phone-number id: its
  routing agent and fallback); else ``ONEINBOX_INBOUND_AGENT_IDS``: comma-separated agent ids
  (default ``agt_support``);
- ``ONEINBOX_INBOUND_POLL_INTERVAL``: seconds between the trigger's polls (default 15);
- ``ONEINBOX_INBOUND_DB_CONN_ID``: the database connection (default ``oneinbox_inbound_db``). If
  no such connection is defined, a SQLite file ``/tmp/oneinbox_inbound_calls.db`` is used
  (``apache-airflow-providers-sqlite``).

PostgreSQL instead: install ``apache-airflow-providers-postgres`` and define the connection, e.g.
``AIRFLOW_CONN_ONEINBOX_INBOUND_DB='postgresql://user:pass@host:5432/crm'``. The same code runs:
``PostgresHook`` turns ``replace=True, replace_index="call_id"`` into
``INSERT ... ON CONFLICT (call_id) DO UPDATE``, SQLite into ``REPLACE INTO``; the table's DDL uses
types both accept.

Trigger the DAG by hand with ``{"call_ids": ["call_..."]}`` to (re)load given calls.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_oneinbox.triggers.call_events import OneInboxCallEventTrigger

INBOUND_NUMBER = os.environ.get("ONEINBOX_INBOUND_NUMBER") or None
AGENT_IDS = [
    a.strip() for a in os.environ.get("ONEINBOX_INBOUND_AGENT_IDS", "agt_support").split(",") if a.strip()
]
POLL_INTERVAL = float(os.environ.get("ONEINBOX_INBOUND_POLL_INTERVAL", "15"))
DB_CONN_ID = os.environ.get("ONEINBOX_INBOUND_DB_CONN_ID", "oneinbox_inbound_db")
#: Used when no connection ``DB_CONN_ID`` is defined anywhere (Airflow's JSON connection form).
DEFAULT_DB_CONNECTION = '{"conn_type": "sqlite", "host": "/tmp/oneinbox_inbound_calls.db"}'
TABLE = "oneinbox_inbound_calls"
COLUMNS = [
    "call_id", "agent_id", "caller", "called_number", "status", "outcome", "summary", "transcript",
    "ended_at", "duration_seconds", "analysed", "loaded_at",
]  # fmt: skip
CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    call_id VARCHAR(128) PRIMARY KEY,
    agent_id VARCHAR(128),
    caller VARCHAR(32),
    called_number VARCHAR(32),
    status VARCHAR(32),
    outcome TEXT,
    summary TEXT,
    transcript TEXT,
    ended_at VARCHAR(40),
    duration_seconds DOUBLE PRECISION,
    analysed INTEGER,
    loaded_at VARCHAR(40)
)
"""

if INBOUND_NUMBER:
    watch = OneInboxCallEventTrigger(
        phone_number=INBOUND_NUMBER, direction="inbound", ready="analysed", poll_interval=POLL_INTERVAL
    )
else:
    watch = OneInboxCallEventTrigger(
        agent_ids=AGENT_IDS, direction="inbound", ready="analysed", poll_interval=POLL_INTERVAL
    )
inbound_calls = Asset(TABLE, watchers=[AssetWatcher(name="oneinbox_inbound", trigger=watch)])


def database_hook(conn_id: str) -> Any:
    """
    The ``DbApiHook`` of ``conn_id``; when no such connection is defined, SQLite at
    :data:`DEFAULT_DB_CONNECTION` (set for this task process only).

    :param conn_id: The database connection's id.
    """
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk.bases.hook import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = DEFAULT_DB_CONNECTION
    return BaseHook.get_hook(conn_id)


def call_row(call: dict[str, Any], loaded_at: str) -> tuple[Any, ...]:
    """
    One table row (in :data:`COLUMNS` order) of a call record.

    :param call: The record from ``GET /v1/calls/{id}``.
    :param loaded_at: When the row is written (ISO 8601).
    """
    from airflow_provider_oneinbox.rules.results import build_call_result, post_call_data_ready

    result = build_call_result(call)
    return (
        result["call_id"], result["agent_id"], result["from_number"], result["to_number"], result["status"],
        result["outcome"], result["summary"], result["transcript"], call.get("ended_at"),
        result["duration_seconds"], int(post_call_data_ready(call)), loaded_at,
    )  # fmt: skip


with DAG(
    dag_id="oneinbox_inbound_calls",
    description="Load every analysed inbound OneInbox call into a database table, one row per call.",
    schedule=[inbound_calls],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # the handled-ids record is read, then written: one run at a time
    tags=["oneinbox", "example"],
    doc_md=__doc__,
    default_args={"retries": 3, "retry_delay": pendulum.duration(seconds=10)},
) as dag:

    @task(inlets=[inbound_calls])  # the inlet gives the task the asset's state store (3.3)
    def load_calls(**context: Any) -> dict[str, Any]:
        """Read each triggering call and upsert its row; the ids loaded and skipped."""
        from airflow_provider_oneinbox.events.consume import calls_to_handle, record_handled
        from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

        manual = list((context["dag_run"].conf or {}).get("call_ids") or [])
        ids = calls_to_handle(context, inbound_calls) + manual
        db = database_hook(DB_CONN_ID)
        db.run(CREATE_TABLE)
        loaded = []
        with OneInboxHook() as oneinbox:
            for call_id in dict.fromkeys(ids):
                call = oneinbox.get_call(call_id)
                row = call_row(call, pendulum.now("UTC").isoformat())
                db.insert_rows(TABLE, [row], target_fields=COLUMNS, replace=True, replace_index="call_id")
                record_handled(context, [call_id], inbound_calls)
                loaded.append(call_id)
                print(f"Loaded {call_id}: outcome {row[5]}")
        return {"loaded": loaded, "table": TABLE, "conn_id": DB_CONN_ID}

    load_calls()
