"""
Export every OneInbox call of the day to JSON Lines, once a day, re-runnable.

Each daily run writes the calls that ended in its data interval (``[00:00, 24:00)`` UTC) to
``<base>/<day>/calls.jsonl``, one normalised call per line, sorted; with recordings on, each
call's recording goes to ``<base>/<day>/recordings/<call id>.mp3`` and its sha256 into the line.
Re-running a day (a backfill, a clear) rewrites the same file: the same bytes when nothing
changed, and complete lines for calls whose post-call data was still missing the first time.

Configuration comes from the environment:

- connection ``oneinbox_default``: ``AIRFLOW_CONN_ONEINBOX_DEFAULT`` (see the README);
- ``ONEINBOX_EXPORT_BASE``: where the files go, any fsspec URL (default
  ``file:///tmp/oneinbox-exports``; e.g. ``s3://my-bucket/oneinbox`` with the Amazon provider and
  an ``aws_default`` connection, or ``gs://...`` with the Google provider);
- ``ONEINBOX_EXPORT_RECORDINGS``: ``1`` to archive recordings too (default ``0``);
- ``ONEINBOX_ANALYSIS_GRACE``: seconds to wait for post-call data still missing (default 300).
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_oneinbox.operators.export import OneInboxExportCallsOperator

try:  # Airflow 3.2+
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.1
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[assignment,no-redef]

EXPORT_BASE = os.environ.get("ONEINBOX_EXPORT_BASE", "file:///tmp/oneinbox-exports").rstrip("/")
RECORDINGS = os.environ.get("ONEINBOX_EXPORT_RECORDINGS", "0") == "1"
ANALYSIS_GRACE = float(os.environ.get("ONEINBOX_ANALYSIS_GRACE", "300"))

with DAG(
    dag_id="oneinbox_export_calls",
    description="Export the day's OneInbox calls (and recordings) to JSON Lines.",
    # A data-interval schedule: each run covers the day before it (a trigger schedule's runs
    # have an empty interval, which the operator refuses).
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["oneinbox", "example"],
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=5)},
) as dag:
    export = OneInboxExportCallsOperator(
        task_id="export_calls",
        path=EXPORT_BASE + "/{{ data_interval_start | ds }}/calls.jsonl",
        recordings=RECORDINGS,
        analysis_grace=ANALYSIS_GRACE,
        poll_interval=min(10.0, max(0.1, ANALYSIS_GRACE / 10)),
    )

    @task
    def report(result: dict[str, Any]) -> dict[str, Any]:
        """Print what was exported (the task's result is the operator's: path and counts)."""
        print(
            f"{result['calls']} call(s) ended in [{result['interval_start']}, {result['interval_end']}): "
            f"{result['analysed']} analysed, {result['pending']} pending, {result['recordings']} "
            f"recording(s); {result['path']} ({result['bytes']} bytes, sha256 {result['sha256']})"
        )
        return {key: result[key] for key in ("path", "calls", "pending", "recordings")}

    report(export.output)
