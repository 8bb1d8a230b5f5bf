"""OneInboxCampaignOperator's failures: bad input fails the task at once (no retry), before any call."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers.campaigns import NUMBERS, campaign, run

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

pytestmark = pytest.mark.airflow_db


def the_try_count(dag_run: Any) -> int:
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == "campaign"]
    return int(ti.try_number)


def test_an_invalid_contact_fails_the_task_without_retrying_and_without_calling_anyone(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    contacts = [{"to_number": NUMBERS[4]}, {"to_number": "12"}]
    body = campaign(contacts, tmp_path / "r.jsonl", "retries=2, retry_delay=timedelta(0)")
    dag_run = run(load_dag, body)

    assert dag_run.state == "failed"
    assert the_try_count(dag_run) == 1  # AirflowFailException: the retries were not used
    assert sim.calls_created() == 0


def test_a_bad_api_key_fails_the_task_without_retrying(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import CONN_ID, connection_json

    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sim.base_url, api_key="wrong"))
    body = campaign([{"to_number": NUMBERS[4]}], tmp_path / "r.jsonl", "retries=2, retry_delay=timedelta(0)")
    dag_run = run(load_dag, body)

    assert dag_run.state == "failed"
    assert the_try_count(dag_run) == 1
    assert sim.calls_created() == 0
