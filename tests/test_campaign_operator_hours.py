"""
OneInboxCampaignOperator and calling hours: contacts closed until the deadline end not called,
100 000 of them included.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers.campaigns import NUMBERS, campaign, rows, run

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

pytestmark = pytest.mark.airflow_db


def test_contacts_outside_their_calling_hours_until_the_deadline_are_not_called(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    from datetime import datetime

    from airflow_provider_oneinbox._compat import UTC

    # Open only two days from now, so never before a one-minute deadline whatever the time of day
    # (a two-second deadline could pass before a loaded machine started the task: "deadline").
    open_day = (datetime.now(UTC).weekday() + 2) % 7
    contacts = [{"to_number": NUMBERS[4], "timezone": "UTC"}]
    results = tmp_path / "results.jsonl"
    body = campaign(
        contacts,
        results,
        f'calling_hours=("00:00", "23:59"), calling_days=[{open_day}], deadline=timedelta(minutes=1)',
    )
    dag_run = run(load_dag, body)

    assert dag_run.state == "success"
    assert sim.calls_created() == 0
    (row,) = rows(results)
    assert (row["status"], row["reason"]) == ("not_called", "outside calling hours until the deadline")


def test_a_hundred_thousand_contacts_closed_until_the_deadline_end_quickly_in_input_order_uncalled(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    from datetime import datetime

    from airflow_provider_oneinbox._compat import UTC
    from tests.helpers.contacts import write_contacts_csv

    # Open only two days from now: never before a one-minute deadline, whatever the time of day.
    open_day = (datetime.now(UTC).weekday() + 2) % 7
    source = write_contacts_csv(tmp_path / "contacts.csv", 100_000, with_timezone=True, timezone="UTC")
    results = tmp_path / "results.jsonl"
    body = campaign(
        str(source),
        results,
        f'calling_hours=("09:00", "17:00"), calling_days=[{open_day}], deadline=timedelta(minutes=1)',
    )
    dag_run = run(load_dag, body)

    assert dag_run.state == "success"
    assert sim.calls_created() == 0
    count = 0
    with results.open() as stream:
        for count, line in enumerate(stream, start=1):
            row = json.loads(line)
            assert row["key"] == f"crm-{count - 1}"
            assert row["status"] == "not_called"
            assert row["reason"] == "outside calling hours until the deadline"
    assert count == 100_000
