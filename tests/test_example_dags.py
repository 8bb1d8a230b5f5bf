"""Every example DAG runs end to end through a real Airflow (``dag.test()``) against the simulator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DAGS_FOLDER, EXAMPLE_DAGS, TEST_API_KEY, task_xcoms

CARRIER_KEY = "example_carrier_token_0a1b2c3d"


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEINBOX_POLL_INTERVAL", "0.3")


@pytest.fixture
def carrier_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ONEINBOX_CARRIER", '{"conn_type": "generic", "password": "' + CARRIER_KEY + '"}'
    )


def test_outbound_call_dag_reports_transcript_and_analysis(
    sim: Any, load_dag: Any, carrier_connection: None, capfd: pytest.CaptureFixture[str]
) -> None:
    dag = load_dag("oneinbox_outbound_call.py")
    dag_run = dag.test(run_conf={"to_number": "+14157010001", "customer_name": "Sama"})
    assert dag_run.state == "success"

    (call_id,) = task_xcoms(dag_run, "place_call")
    (result,) = task_xcoms(dag_run, "wait_for_call")
    (transcript,) = task_xcoms(dag_run, "wait_for_call", key="transcript")
    (analysis,) = task_xcoms(dag_run, "wait_for_call", key="analysis")
    (report,) = task_xcoms(dag_run, "report")
    assert result["call_id"] == call_id
    assert result["status"] == "completed"
    assert analysis["outcome"] == "Appointment Booked"
    assert transcript.startswith("Agent: ")
    assert "Sama" in transcript, "per-run variables must reach the agent"
    assert report == {"call_id": call_id, "outcome": "Appointment Booked"}
    assert sim.calls_created("+14157010001") == 1

    out, err = capfd.readouterr()
    assert "Outcome: Appointment Booked" in out + err
    for secret in (TEST_API_KEY, CARRIER_KEY):
        assert secret not in out + err


def test_campaign_dag_places_one_call_per_contact_and_summarises(
    sim: Any, load_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    suffixes = ["01", "02", "03", "04", "07", "10"]
    contacts = [
        {"to_number": f"+14157030{i}{s}", "customer_name": f"Contact {i}"} for i, s in enumerate(suffixes)
    ]
    contacts.append({"to_number": "555-0199", "customer_name": "No country code"})
    dag = load_dag("oneinbox_call_campaign.py")
    dag_run = dag.test(run_conf={"contacts": contacts})

    results = task_xcoms(dag_run, "place_call")
    (summary,) = task_xcoms(dag_run, "summarise")
    # failures_as_results: one result per contact, in contact order, failures included.
    assert [result["status"] for result in results] == ["completed"] * 3 + ["failed"] + ["completed"] * 2 + [
        "not_placed"
    ]
    assert [result["to_number"] for result in results] == [contact["to_number"] for contact in contacts]
    assert "to_number" in results[-1]["reason"]
    for contact in contacts[:-1]:
        assert sim.calls_created(contact["to_number"]) == 1
    assert sim.calls_created() == len(contacts) - 1  # the refused number was never dialled
    assert summary == {
        "calls": 7,
        "completed": 5,
        "failed": 1,
        "not_placed": 1,
        "outcomes": {
            "Appointment Booked": 1,
            "Not Connected": 1,
            "Voicemail": 1,
            "Not Interested": 1,
            "Interested": 1,
        },
    }
    states = [ti.state for ti in dag_run.get_task_instances() if ti.task_id == "place_call"]
    assert states == ["success"] * len(contacts)


@pytest.mark.usefixtures("sim")
def test_a_campaign_longer_than_max_map_length_says_so_and_the_summary_reports_it(
    load_dag: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "3")
    contacts = [{"to_number": f"+1415703020{i}", "customer_name": "x"} for i in range(5)]
    dag_run = load_dag("oneinbox_call_campaign.py").test(run_conf={"contacts": contacts})

    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"call_requests": "failed", "place_call": "upstream_failed", "summarise": "success"}
    out = capfd.readouterr()
    assert "[core] max_map_length" in out.out + out.err
    (summary,) = task_xcoms(dag_run, "summarise")
    assert summary["calls"] == 0
    assert "call_requests failed" in summary["error"]


#: The CSV beside the example DAG, in order: valid contacts, then an invalid number and a duplicate.
CSV_NUMBERS = [
    "+14155550101",  # Appointment Booked
    "+14155550102",  # Not Connected: redialled
    "+14155550103",  # Voicemail: redialled
    "+14155550107",  # Not Interested
    "+14155550110",  # Interested; its row gives America/New_York
    "+442079460111",  # London (Ofcom's drama range)
    "+61255500122",  # Sydney (ACMA's fictitious range)
]


@pytest.fixture
def campaign_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CSV example, made quick and deterministic: hours open all day (one second aside), fast redials."""
    monkeypatch.setenv("ONEINBOX_CALLING_HOURS", "00:00-23:59:59")
    monkeypatch.setenv("ONEINBOX_CALLING_DAYS", "daily")
    monkeypatch.setenv("ONEINBOX_REDIAL_AFTER", "0.5")
    monkeypatch.setenv("ONEINBOX_CALLS_PER_MINUTE", "240")
    # The DAG reads its CSV beside itself: in a deployment the data folder ships with the DAG file.
    shutil.copytree(EXAMPLE_DAGS / "data", DAGS_FOLDER / "data", dirs_exist_ok=True)


@pytest.mark.usefixtures("campaign_settings")
def test_csv_campaign_dag_calls_each_contact_once_per_attempt_and_writes_rows_in_file_order(
    sim: Any, load_dag: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    dag = load_dag("oneinbox_campaign_csv.py")
    dag_run = dag.test(run_conf={"results_dir": tmp_path.as_uri()})
    assert dag_run.state == "success"

    (summary,) = task_xcoms(dag_run, "call_contacts")
    (report,) = task_xcoms(dag_run, "report")
    (results,) = (path for path in tmp_path.glob("*.jsonl") if not path.name.endswith(".transcripts.jsonl"))
    assert summary["results"] == report["results"]
    assert Path(summary["results"].removeprefix("file://")) == results
    # The transcripts go to a file of their own beside the results, one line per ended call.
    (transcripts,) = tmp_path.glob("*.transcripts.jsonl")
    assert Path(summary["transcripts"].removeprefix("file://")) == transcripts
    assert {json.loads(line)["call_id"] for line in transcripts.read_text().splitlines()} <= {
        call_id
        for row in json.loads(f"[{','.join(results.read_text().splitlines())}]")
        for call_id in row["call_ids"]
    }
    rows = [json.loads(line) for line in results.read_text().splitlines()]

    # One row per CSV row, in the file's order; the bad ones reported, never called.
    assert [row["to_number"] for row in rows] == [*CSV_NUMBERS, "555-0199", "+14155550101"]
    assert [row["status"] for row in rows[-2:]] == ["not_called", "not_called"]
    assert all(row["reason"].startswith("invalid: ") and row["attempts"] == 0 for row in rows[-2:])
    assert "to_number" in rows[-2]["reason"], rows[-2]
    assert "also the key of line 2" in rows[-1]["reason"], rows[-1]  # the duplicate of the first row
    by_number = {row["to_number"]: row for row in rows[:-2]}
    assert by_number["+14155550101"]["outcome"] == "Appointment Booked"
    # Not Connected and Voicemail are redialled once (max_attempts=2): two calls, two ids.
    for number, outcome in (("+14155550102", "Not Connected"), ("+14155550103", "Voicemail")):
        row = by_number[number]
        assert row["attempts"] == 2, row
        assert len(set(row["call_ids"])) == 2, row
        assert row["outcome"] == outcome
    assert all(by_number[n]["attempts"] == 1 for n in CSV_NUMBERS if n[-2:] not in ("02", "03"))

    # The simulator's own count: one call per contact per attempt, each with its own key.
    expected = {n: 2 if n[-2:] in ("02", "03") else 1 for n in CSV_NUMBERS}
    assert {n: sim.calls_created(n) for n in CSV_NUMBERS} == expected
    assert sim.calls_created() == sum(expected.values()) == summary["calls"] == report["calls"]
    keys = [r["idempotency_key"] for r in sim.requests("POST", "/v1/calls") if r["status"] < 300]
    assert len(keys) == len(set(keys)) == sum(expected.values())
    record = sim.limits_record()
    assert record["peak_live_calls_by_agent"]["agt_sales"] <= 2, record
    assert record["refusals_by_code"] == {}, record

    assert report["contacts"] == 9
    assert report["not_called"] == 2
    assert report["completed"] + report["not_called"] + summary["by_status"].get("failed", 0) == 9
    out, err = capfd.readouterr()
    assert "Campaign report:" in out + err
    assert TEST_API_KEY not in out + err


def test_export_dag_writes_the_days_calls_with_their_recordings(
    sim: Any,
    load_dag: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from datetime import datetime, timedelta

    from airflow_provider_oneinbox._compat import UTC
    from tests.helpers.exports import instant, lines_of
    from tests.helpers.simulator_api import create_call, get_call, wait_for

    monkeypatch.setenv("ONEINBOX_EXPORT_BASE", f"file://{tmp_path}/exports")
    monkeypatch.setenv("ONEINBOX_EXPORT_RECORDINGS", "1")
    monkeypatch.setenv("ONEINBOX_ANALYSIS_GRACE", "5")
    from airflow_provider_oneinbox.rules.results import post_call_data_ready

    # Booked, not connected (no recording), not interested.
    ids = [create_call(sim, f"+1415555100{n}")["id"] for n in (1, 2, 7)]
    wait_for(lambda: all(post_call_data_ready(get_call(sim, i)) for i in ids), timeout=20)
    ended = {i: instant(get_call(sim, i)["ended_at"]) for i in ids}
    day = min(ended.values()).date()
    expected = {i for i, when in ended.items() if when.date() == day}

    dag = load_dag("oneinbox_export_calls.py")
    dag_run = dag.test(logical_date=datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1))

    (result,) = task_xcoms(dag_run, "export_calls")
    target = tmp_path / "exports" / day.isoformat() / "calls.jsonl"
    assert result["path"] == f"file://{target}"
    lines = lines_of(target)
    assert {line["id"] for line in lines} == expected
    with_recording = [line for line in lines if line["recording"]]
    assert result["recordings"] == len(with_recording) >= 1
    for line in with_recording:
        assert (target.parent / line["recording"]["path"]).stat().st_size == line["recording"]["bytes"]
    (report,) = task_xcoms(dag_run, "report")
    assert report == {
        "path": result["path"],
        "calls": len(expected),
        "pending": 0,
        "recordings": result["recordings"],
    }
    out, err = capfd.readouterr()
    assert f"{len(expected)} call(s) ended in [{day.isoformat()}T00:00:00+00:00" in out + err
    assert TEST_API_KEY not in out + err
    assert "signature=" not in out + err


INBOUND_NUMBER = "+14157040107"  # ends in 07: "Not Interested", 14 s, post-call data 3 s later


def _analysed_inbound_calls(sim: Any, count: int) -> list[dict[str, Any]]:
    """``count`` inbound calls to a number routed to ``agt_support``, ended and analysed."""
    from tests.helpers.simulator_api import FROZEN, api

    sim.configure(speed=FROZEN)
    api(sim, "POST", "/v1/phone-numbers", json={"phone_number": INBOUND_NUMBER, "agent_id": "agt_support"})
    sim.configure(inbound_calls_per_minute=60)
    sim.advance(count + 0.5)
    sim.configure(inbound_calls_per_minute=0)
    sim.advance(60)
    calls = api(sim, "GET", "/v1/calls/cursor", params={"limit": 100}).json()["items"]
    inbound = [call for call in calls if call["direction"] == "inbound"][::-1]
    assert len(inbound) == count
    return inbound


def _rows(db: Path) -> dict[str, dict[str, Any]]:
    import sqlite3

    with sqlite3.connect(db) as connection:
        connection.row_factory = sqlite3.Row
        return {
            row["call_id"]: dict(row) for row in connection.execute("SELECT * FROM oneinbox_inbound_calls")
        }


def test_inbound_dag_upserts_every_triggering_call_once(
    sim: Any, load_dag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asset_watchers_forgotten: None
) -> None:
    """An asset-triggered run (real asset events, several in one run) loads each call, idempotently."""
    import airflow

    from airflow_provider_oneinbox.triggers.call_events import OneInboxCallEventTrigger
    from tests.helpers.asset_events import consuming, trigger_extra

    db = tmp_path / "calls.db"
    monkeypatch.setenv("ONEINBOX_INBOUND_DB_CONN_ID", "inbound_test_db")
    monkeypatch.setenv("AIRFLOW_CONN_INBOUND_TEST_DB", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    calls = _analysed_inbound_calls(sim, 3)
    dag = load_dag("oneinbox_inbound_calls.py")
    (asset,) = dag.get_task("load_calls").inlets
    (watcher,) = asset.watchers
    assert isinstance(watcher.trigger, OneInboxCallEventTrigger)

    payloads = [
        {"call_id": c["id"], "agent_id": c["agent_id"], "direction": "inbound", "status": c["status"],
         "outcome": "Not Interested", "analysed": True, "ended_at": c["ended_at"], "duration_seconds": 12}
        for c in calls
    ]  # fmt: skip
    extras = [trigger_extra(p) for p in payloads]
    extras += [{"note": "an asset event from elsewhere"}, trigger_extra(payloads[0])]  # and a repeat
    with consuming(asset.name, extras):
        first = dag.test()
    assert first.state == "success"
    (result,) = task_xcoms(first, "load_calls")
    assert result["loaded"] == [c["id"] for c in calls]
    rows = _rows(db)
    assert sorted(rows) == sorted(c["id"] for c in calls)
    for call in calls:
        row = rows[call["id"]]
        assert row["caller"] == call["from_number"]  # may be None: a withheld number
        assert row["called_number"] == INBOUND_NUMBER
        assert row["outcome"] == "Not Interested"
        assert row["summary"]
        assert row["transcript"].startswith("Agent: ")
        assert row["analysed"] == 1

    # The same calls again (a trigger's re-fire after a crash): still one row per call. On 3.3 the
    # task skips them, recorded in the asset's state store; on 3.1 it loads them again (upsert).
    with consuming(asset.name, extras[:1]):
        second = dag.test()
    (again,) = task_xcoms(second, "load_calls")
    durable = tuple(int(p) for p in airflow.__version__.split(".")[:2]) >= (3, 3)
    assert again["loaded"] == ([] if durable else [calls[0]["id"]])
    assert sorted(_rows(db)) == sorted(c["id"] for c in calls)  # a replaced row may move: same set


def test_inbound_dag_loads_the_call_ids_given_by_hand(
    sim: Any, load_dag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asset_watchers_forgotten: None
) -> None:
    db = tmp_path / "calls.db"
    monkeypatch.setenv("ONEINBOX_INBOUND_DB_CONN_ID", "inbound_test_db")
    monkeypatch.setenv("AIRFLOW_CONN_INBOUND_TEST_DB", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    (call,) = _analysed_inbound_calls(sim, 1)
    dag_run = load_dag("oneinbox_inbound_calls.py").test(run_conf={"call_ids": [call["id"]]})
    assert dag_run.state == "success"
    assert _rows(db)[call["id"]]["outcome"] == "Not Interested"
