"""OneInboxCampaignOperator's transcripts: fetched per settled call into the results' file, not XCom."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import task_xcoms
from tests.helpers.campaigns import NUMBERS, campaign, rows, run

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

pytestmark = pytest.mark.airflow_db


def test_the_transcripts_of_settled_calls_go_beside_the_results_and_never_into_xcom(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    contacts = [{"key": f"c{i}", "to_number": n} for i, n in enumerate((NUMBERS[0], NUMBERS[4], "12"))]
    results = tmp_path / "results.jsonl"
    dag_run = run(load_dag, campaign(contacts, results, 'max_concurrent_calls=2, on_invalid="skip"'))

    assert dag_run.state == "success"
    written = rows(results)
    texts = rows(tmp_path / "results.transcripts.jsonl")
    placed = [call_id for row in written for call_id in row["call_ids"]]
    assert [t["call_id"] for t in texts] == placed  # every settled call once, in the rows' order
    assert len(placed) == 2
    assert all(t["transcript"].startswith(("Agent: ", "User: ")) for t in texts), texts
    (summary,) = task_xcoms(dag_run, "campaign")
    assert summary["transcripts"] == str(tmp_path / "results.transcripts.jsonl")
    assert "Agent: " not in str(summary)


def test_no_transcripts_file_when_turned_off(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    results = tmp_path / "results.jsonl"
    dag_run = run(load_dag, campaign([{"to_number": NUMBERS[4]}], results, "transcripts=False"))

    assert dag_run.state == "success"
    assert [row["status"] for row in rows(results)] == ["completed"]
    assert not (tmp_path / "results.transcripts.jsonl").exists()
