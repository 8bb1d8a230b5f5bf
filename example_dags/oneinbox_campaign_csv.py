"""
Call every contact of a CSV file from ONE task: paced, inside calling hours, redialled, quota-aware.

``OneInboxCampaignOperator`` is the form to choose when a campaign has hundreds or thousands of
contacts: one task instance places, watches and redials every call, so Airflow starts one task,
not one per contact (the mapped form, ``oneinbox_call_campaign``, pays a task start and a
deferral per contact and stops at ``[core] max_map_length``). Design: ``docs/campaigns.md``.

Every choice below, and why:

* **Contacts from a file** (``contacts``): a CSV with a header row naming ``to_number``; the
  ``timezone`` column, where filled, overrides the zone derived from the number; every other
  column (here ``customer_name``) becomes the call's ``variables``. The file is streamed, never
  put into XCom, so 100 000 contacts cost no more than the rows themselves. A local path, a
  ``file://`` URL or any ``ObjectStoragePath`` URL (``s3://bucket/contacts.csv``) works. The
  default is ``data/campaign_contacts.csv`` beside this file; the ``contacts_file`` param
  overrides it per run.
* **Bad rows are skipped and reported** (``on_invalid="skip"``): a number that cannot exist
  (``555-0199``) and a second row for a contact already listed (same key: the number, as no
  ``key`` column is given) are reported in the results, reason ``invalid: ...``, before any
  call is placed; the rest are called. ``on_invalid="fail"`` would fail the task before dialling
  anyone instead: choose it when a bad row means the export itself is wrong.
* **Calling hours in the callee's time zone** (``calling_hours``, ``calling_days``): 09:00 to
  20:00, Monday to Saturday, read in each contact's own zone (London for +44 20, Sydney for +61 2,
  Los Angeles for +1 415, New York where the row says so). A contact outside its window waits
  for it; the other contacts are called meanwhile. A number whose area spans several zones is
  open only while every one of them is.
* **A deadline** (``deadline``, 10 hours from the run): waiting ends there. Contacts still waiting
  for their window or for a redial end ``not_called`` with the reason; calls still live are
  awaited, never abandoned.
* **Redials** (``redial_outcomes``, ``max_attempts``, ``redial_after``): a call that did not
  reach the person ("Not Connected") or reached a voicemail is tried once more (two attempts in
  all), two hours after the first ended, inside calling hours. Each attempt is its own call with
  its own idempotency key; a retry of the task never places an attempt twice.
* **Pacing** (``max_concurrent_calls``, ``calls_per_minute``): at most 2 live calls and one new
  call every 2 seconds: the agent's and the carrier's caps (Twilio accepts 1 call per second by
  default). A refusal for rate or concurrency (429) pauses dialling as long as the API asks; it
  never fails a contact.
* **Quota policy** (``quota_policy="fit"``): before dialling, ``GET /v1/usage``; when the daily
  quota left is smaller than the contacts to call, place what fits and wait for the reset
  (00:00 UTC) until the deadline. ``"fail"`` fails before anyone is called; ``"ignore"`` skips
  the check.
* **Results** (``results_path``): one JSON Lines row per contact, in the file's order (key,
  number, status, outcome, summary, attempts, call ids, reason), written to an
  ``ObjectStoragePath``: by default under ``$AIRFLOW_HOME/oneinbox_campaigns/``, one file per
  run; the ``results_dir`` param takes any URL (``s3://bucket/campaigns``). XCom gets only the
  counts and the path, whatever the campaign's size.
* **A downstream task** (``report``) reads those counts from XCom: how many contacts, calls,
  outcomes, and where the rows are.

Settings read when the file is parsed (environment, like the other examples): ``ONEINBOX_AGENT_ID``,
``ONEINBOX_FROM_NUMBER``, ``ONEINBOX_CALLING_HOURS`` (``"09:00-20:00"``, or ``"any"`` for no
window), ``ONEINBOX_CALLING_DAYS`` (``"mon-sat"``), ``ONEINBOX_REDIAL_AFTER`` (seconds),
``ONEINBOX_CALLS_PER_MINUTE``, ``ONEINBOX_POLL_INTERVAL`` (seconds). They are not params because
the operator reads them when the DAG is built, not when the task runs.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_oneinbox.operators.campaigns import OneInboxCampaignOperator

AGENT_ID = os.environ.get("ONEINBOX_AGENT_ID", "agt_sales")
FROM_NUMBER = os.environ.get("ONEINBOX_FROM_NUMBER", "+14155550100")
HOURS = os.environ.get("ONEINBOX_CALLING_HOURS", "09:00-20:00")
CALLING_HOURS = None if HOURS.strip().lower() == "any" else tuple(HOURS.split("-", 1))
CALLING_DAYS = os.environ.get("ONEINBOX_CALLING_DAYS", "mon-sat")
REDIAL_AFTER = timedelta(seconds=float(os.environ.get("ONEINBOX_REDIAL_AFTER", str(2 * 3600))))
CALLS_PER_MINUTE = float(os.environ.get("ONEINBOX_CALLS_PER_MINUTE", "30"))
POLL_INTERVAL = float(os.environ.get("ONEINBOX_POLL_INTERVAL", "10"))

CONTACTS_FILE = Path(__file__).resolve().parent / "data" / "campaign_contacts.csv"
RESULTS_DIR = Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser() / "oneinbox_campaigns"
# One file per run; a run id holds ':' and '+' (manual__2026-01-01T09:00:00+00:00), kept out of names.
RESULTS_PATH = (
    "{{ params.results_dir.rstrip('/') }}/{{ run_id | replace(':', '') | replace('+', '_') }}.jsonl"
)

with DAG(
    dag_id="oneinbox_campaign_csv",
    description="Call a CSV file's contacts from one task: calling hours, redials, pacing, quota.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["oneinbox", "example"],
    doc_md=__doc__,
    params={
        "contacts_file": Param(str(CONTACTS_FILE), type="string", description="Path or URL of the CSV."),
        "results_dir": Param(
            RESULTS_DIR.as_uri(), type="string", description="Directory URL the results file goes to."
        ),
    },
) as dag:
    campaign = OneInboxCampaignOperator(
        task_id="call_contacts",
        agent_id=AGENT_ID,
        from_number=FROM_NUMBER,
        contacts="{{ params.contacts_file }}",
        on_invalid="skip",
        calling_hours=CALLING_HOURS,
        calling_days=CALLING_DAYS,
        deadline=timedelta(hours=10),
        redial_outcomes=["Not Connected", "Voicemail"],
        max_attempts=2,
        redial_after=REDIAL_AFTER,
        max_concurrent_calls=2,
        calls_per_minute=CALLS_PER_MINUTE,
        quota_policy="fit",
        results_path=RESULTS_PATH,
        poll_interval=POLL_INTERVAL,
        progress_interval=max(POLL_INTERVAL, 30),
        analysis_grace_period=6 * POLL_INTERVAL,
    )

    @task
    def report(summary: dict[str, Any]) -> dict[str, Any]:
        """What the campaign did, from its XCom counts (the rows themselves are in the results file)."""
        statuses = summary.get("by_status") or {}
        line = {
            "contacts": summary["contacts"],
            "calls": summary["calls"],
            "completed": statuses.get("completed", 0),
            "not_called": statuses.get("not_called", 0),
            "outcomes": summary.get("by_outcome") or {},
            "results": summary.get("results"),
        }
        print(f"Campaign report: {line}")
        return line

    report(campaign.output)  # type: ignore[arg-type]
