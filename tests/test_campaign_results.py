"""Campaign results: rows in input order as JSON Lines, transcripts beside them, counts for XCom."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_oneinbox.campaigns.results import (
    COMPLETED,
    FAILED,
    MAX_OUTCOMES_COUNTED,
    NOT_CALLED,
    ContactResult,
    progress_line,
    read_results,
    summarize,
    transcripts_destination,
    write_results,
)
from airflow_provider_oneinbox.exceptions import OneInboxInputError

TRANSCRIPT = "Agent: Hello, this is the clinic.\nUser: Tuesday works."

ROWS = [
    ContactResult(0, "a", "+14155550100", COMPLETED, "Appointment Booked", "Booked Tuesday", 1, ("call_1",)),
    ContactResult(1, None, "+10", NOT_CALLED, reason="invalid: 'to_number': cannot exist"),
    ContactResult(2, "c", "+14155550102", COMPLETED, "Voicemail", None, 2, ("call_2", "call_3")),
    ContactResult(3, "d", "+14155550103", FAILED, None, None, 1, ("call_4",), "carrier_error"),
]


def test_a_row_is_json_ready_and_reads_back_the_same() -> None:
    row = ROWS[2].to_row()
    assert row == {
        "index": 2,
        "key": "c",
        "to_number": "+14155550102",
        "status": "completed",
        "outcome": "Voicemail",
        "summary": None,
        "attempts": 2,
        "call_ids": ["call_2", "call_3"],
        "reason": None,
    }
    assert ContactResult.from_row(json.loads(json.dumps(row))) == ROWS[2]


def test_results_are_written_in_order_and_xcom_gets_only_counts_and_paths(tmp_path: Path) -> None:
    destination = tmp_path / "out" / "campaign.jsonl"
    xcom = write_results(iter(ROWS), destination, transcripts={"call_1": TRANSCRIPT})
    assert xcom == {
        "contacts": 4,
        "calls": 4,
        "by_status": {"completed": 2, "not_called": 1, "failed": 1},
        "by_outcome": {"Appointment Booked": 1, "Voicemail": 1},
        "results": str(destination),
        "transcripts": str(tmp_path / "out" / "campaign.transcripts.jsonl"),
    }
    assert "Tuesday works" not in json.dumps(xcom)
    lines = destination.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["index"] for line in lines] == [0, 1, 2, 3]
    assert list(read_results(destination)) == ROWS
    transcripts = [
        json.loads(line) for line in Path(xcom["transcripts"]).read_text(encoding="utf-8").splitlines()
    ]
    assert transcripts == [{"call_id": "call_1", "transcript": TRANSCRIPT}]
    assert sorted(p.name for p in destination.parent.iterdir()) == [
        "campaign.jsonl",
        "campaign.transcripts.jsonl",
    ]


def test_message_lists_are_rendered_and_pairs_are_streamed(tmp_path: Path) -> None:
    messages = [{"role": "agent", "content": "Hello"}, {"role": "user", "content": "Hi"}]
    xcom = write_results(ROWS[:1], tmp_path / "r.jsonl", transcripts=iter([("call_1", messages)]))
    (line,) = Path(xcom["transcripts"]).read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {"call_id": "call_1", "transcript": "Agent: Hello\nUser: Hi"}


def test_a_retry_overwrites_and_leaves_no_partial_file(tmp_path: Path) -> None:
    destination = tmp_path / "campaign.jsonl"
    write_results(ROWS, destination)
    xcom = write_results(ROWS[:1], destination)
    assert xcom["transcripts"] is None
    assert list(read_results(destination)) == ROWS[:1]
    assert [p.name for p in tmp_path.iterdir()] == ["campaign.jsonl"]


def test_a_writer_that_fails_midway_leaves_the_previous_results(tmp_path: Path) -> None:
    destination = tmp_path / "campaign.jsonl"
    write_results(ROWS, destination)

    def broken() -> object:
        yield ROWS[0]
        raise RuntimeError("worker lost its database")

    with pytest.raises(RuntimeError):
        write_results(broken(), destination)  # type: ignore[arg-type]
    assert list(read_results(destination)) == ROWS


def test_an_object_storage_path_receives_results_and_transcripts(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    url = f"file://{tmp_path}/new/campaign.jsonl"
    xcom = write_results(ROWS, ObjectStoragePath(url), transcripts={"call_1": TRANSCRIPT})
    assert xcom["results"] == url
    assert xcom["transcripts"] == f"file://{tmp_path}/new/campaign.transcripts.jsonl"
    assert str(transcripts_destination(url)) == xcom["transcripts"]
    assert list(read_results(ObjectStoragePath(url))) == ROWS
    assert list(read_results(url)) == ROWS
    assert (tmp_path / "new" / "campaign.transcripts.jsonl").read_text(encoding="utf-8").count("\n") == 1


def test_a_destination_that_is_no_path_is_refused() -> None:
    with pytest.raises(OneInboxInputError, match="expected a path, a URL or an ObjectStoragePath"):
        write_results(ROWS, 42)


def test_rare_outcomes_are_lumped_together_to_keep_xcom_small() -> None:
    many = [
        ContactResult(i, str(i), "+14155550100", COMPLETED, f"Outcome {i}", attempts=1) for i in range(80)
    ]
    many += [
        ContactResult(80 + i, f"x{i}", "+14155550100", COMPLETED, "Outcome 0", attempts=1) for i in range(3)
    ]
    counts = summarize(many)
    assert len(counts["by_outcome"]) == MAX_OUTCOMES_COUNTED + 1
    assert counts["by_outcome"]["Outcome 0"] == 4
    assert sum(counts["by_outcome"].values()) == 83
    assert counts["by_outcome"]["(other)"] == 83 - sum(
        v for k, v in counts["by_outcome"].items() if k != "(other)"
    )


def test_the_progress_line_reads_like_a_sentence() -> None:
    line = progress_line(
        total=1000,
        placed=312,
        ended=280,
        outcomes={"Appointment Booked": 41, "Voicemail": 41, "Not Interested": 90, "Interested": 2},
        waiting_for_hours=12,
    )
    assert line == (
        "312/1000 placed, 280 ended, 90 Not Interested, 41 Appointment Booked, 41 Voicemail, "
        "12 waiting for calling hours"
    )
    assert progress_line(total=3, placed=0, ended=0, waiting_for_redial=1, waiting_for_quota=2) == (
        "0/3 placed, 0 ended, 1 waiting for a redial, 2 waiting for the daily quota"
    )
