"""The export of an interval's calls against the simulator: complete, exact at its bounds, byte-identical."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oneinbox.export.lines import LINE_FIELDS
from tests.helpers.exports import ended_within, every_call, instant, lines_of, run_export
from tests.helpers.simulator_api import api, create_call, get_call

DEFAULT = "+14155551010"  # rings 2 s, talks 20 s
LONG = "+14155551005"  # talks 600 s
FAILED = "+14155551004"
NO_POST_CALL = "+14155551008"


def web_call(sim: Any) -> dict[str, Any]:
    """An inbound-direction call (a browser call)."""
    response = api(sim, "POST", "/v1/calls/web", json={"agent_id": "agt_support"})
    assert response.status_code == 201, response.text
    return get_call(sim, response.json()["id"])


@pytest.fixture
def day(frozen: Any) -> dict[str, Any]:
    """
    Calls around an interval [start, end) taken from two calls' ``ended_at``:

    150 old calls (created 3 h before), a long call created before the interval that ends in it,
    one ending just before, one ending exactly at the start (in), inbound, failed and
    never-analysed calls inside, one ending exactly at the end (out), one after, one still live.
    """
    sim = frozen
    old = [create_call(sim, DEFAULT)["id"] for _ in range(150)]
    sim.advance(3 * 3600)
    calls = {"long": create_call(sim, LONG)}
    sim.advance(10)
    calls["before"] = create_call(sim, DEFAULT)
    sim.advance(30)
    calls["at_start"] = create_call(sim, DEFAULT)
    sim.advance(60)
    calls["inbound"] = web_call(sim)
    sim.advance(100)
    calls["failed"] = create_call(sim, FAILED, agent_id="agt_support")
    sim.advance(100)
    calls["no_post_call"] = create_call(sim, NO_POST_CALL)
    sim.advance(400)
    calls["at_end"] = create_call(sim, DEFAULT)
    sim.advance(100)
    calls["after"] = create_call(sim, DEFAULT)
    sim.advance(100)
    calls["live"] = create_call(sim, LONG)
    sim.advance(30)
    records = {name: get_call(sim, call["id"]) for name, call in calls.items()}
    start, end = instant(records["at_start"]["ended_at"]), instant(records["at_end"]["ended_at"])
    return {"sim": sim, "old": old, "calls": records, "start": start, "end": end}


def test_an_interval_holds_every_call_that_ended_in_it_and_no_other(
    day: dict[str, Any], tmp_path: Path
) -> None:
    sim, calls, start, end = day["sim"], day["calls"], day["start"], day["end"]
    before = len(sim.requests(path_prefix="/v1/calls/cursor"))
    target = tmp_path / "2026-01-01" / "calls.jsonl"

    result = run_export(f"file://{target}", start, end, created_margin=3600)
    # The walk stopped at the first call created before start - margin: one page, not two.
    assert len(sim.requests(path_prefix="/v1/calls/cursor")) - before == 1

    lines = lines_of(target)
    expected = ended_within(every_call(), start, end)
    assert {line["id"] for line in lines} == expected
    inside = {calls[name]["id"] for name in ("long", "at_start", "inbound", "failed", "no_post_call")}
    assert expected == inside
    assert not {calls[name]["id"] for name in ("before", "at_end", "after", "live")} & expected
    assert not set(day["old"]) & expected
    # Sorted by (ended_at, id), keys in one fixed order, no signed link anywhere.
    assert [line["id"] for line in lines] == [
        c["id"] for c in sorted(lines, key=lambda c: (instant(c["ended_at"]), c["id"]))
    ]
    assert all(tuple(line) == LINE_FIELDS for line in lines)
    assert "recording_url" not in target.read_text()
    assert "signature=" not in target.read_text()
    by_id = {line["id"]: line for line in lines}
    assert by_id[calls["no_post_call"]["id"]]["post_call_ready"] is False
    assert by_id[calls["at_start"]["id"]]["post_call_ready"] is True
    assert by_id[calls["at_start"]["id"]]["transcript"].startswith("Agent: ")
    assert by_id[calls["inbound"]["id"]]["direction"] == "inbound"
    data = target.read_bytes()
    assert result == {
        "path": f"file://{target}",
        "interval_start": start.isoformat(),
        "interval_end": end.isoformat(),
        "calls": 5,
        "analysed": 4,
        "pending": 1,
        "recordings": 0,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def test_a_rerun_over_unchanged_calls_writes_the_same_bytes(day: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "calls.jsonl"
    first = run_export(str(target), day["start"], day["end"])
    content = target.read_bytes()
    day["sim"].advance(5)  # every recording link is signed anew; nothing exported changes
    second = run_export(str(target), day["start"], day["end"])
    assert target.read_bytes() == content
    assert second == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.jsonl"]


def test_filters_by_agent_direction_and_status(day: dict[str, Any], tmp_path: Path) -> None:
    calls, start, end = day["calls"], day["start"], day["end"]
    target = tmp_path / "calls.jsonl"

    run_export(str(target), start, end, agent_ids=["agt_support"])
    assert {line["id"] for line in lines_of(target)} == {calls["inbound"]["id"], calls["failed"]["id"]}
    run_export(str(target), start, end, direction="inbound")
    assert [line["id"] for line in lines_of(target)] == [calls["inbound"]["id"]]
    run_export(str(target), start, end, statuses=["failed"])
    assert [line["id"] for line in lines_of(target)] == [calls["failed"]["id"]]
    run_export(str(target), start, end, agent_ids=["agt_sales", "agt_support"], direction="outbound")
    expected = {calls[name]["id"] for name in ("long", "at_start", "failed", "no_post_call")}
    assert {line["id"] for line in lines_of(target)} == expected


def test_an_interval_without_calls_writes_an_empty_file(frozen: Any, tmp_path: Path) -> None:
    create_call(frozen, DEFAULT)
    frozen.advance(100)
    target = tmp_path / "calls.jsonl"
    result = run_export(str(target), "2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z")
    assert target.read_bytes() == b""
    assert (result["calls"], result["bytes"]) == (0, 0)


def test_missing_post_call_data_is_waited_for_then_exported_pending_and_rewritten_complete_later(
    frozen: Any, tmp_path: Path
) -> None:
    sim = frozen
    call = create_call(sim, DEFAULT)
    sim.advance(23)  # ended; post-call data arrives 3 s after the end
    ended = instant(get_call(sim, call["id"])["ended_at"])
    start, end = ended.replace(microsecond=0), ended.replace(microsecond=0).replace(year=ended.year + 1)
    target = tmp_path / "calls.jsonl"
    reads = len(sim.requests(path_prefix=f"/v1/calls/{call['id']}"))

    result = run_export(str(target), start, end, analysis_grace=0.4, poll_interval=0.1)

    assert (result["pending"], result["analysed"]) == (1, 0)
    (line,) = lines_of(target)
    assert (line["post_call_ready"], line["analysis"], line["transcript"]) == (False, None, "")
    assert len(sim.requests(path_prefix=f"/v1/calls/{call['id']}")) - reads >= 2  # only it was re-read
    pending = target.read_bytes()

    sim.advance(5)
    result = run_export(str(target), start, end)
    (line,) = lines_of(target)
    assert (result["pending"], line["post_call_ready"], line["outcome"]) == (0, True, "Interested")
    assert target.read_bytes() != pending


def test_post_call_data_that_arrives_within_the_grace_is_exported(frozen: Any, tmp_path: Path) -> None:
    sim = frozen
    call = create_call(sim, DEFAULT)
    sim.advance(23)
    ended = instant(get_call(sim, call["id"])["ended_at"]).replace(microsecond=0)
    timer = threading.Timer(0.3, sim.advance, args=(5,))
    timer.start()
    try:
        later = ended.replace(year=ended.year + 1)
        result = run_export(str(tmp_path / "c.jsonl"), ended, later, analysis_grace=20, poll_interval=0.1)
    finally:
        timer.cancel()
    assert (result["analysed"], result["pending"]) == (1, 0)
    assert lines_of(tmp_path / "c.jsonl")[0]["summary"]


def test_the_margin_is_what_finds_a_long_call_created_before_the_interval(
    day: dict[str, Any], tmp_path: Path
) -> None:
    """The documented assumption, shown: a margin shorter than the long call's length misses it."""
    calls, start, end = day["calls"], day["start"], day["end"]
    long_id = calls["long"]["id"]
    assert instant(calls["long"]["created_at"]) < start - timedelta(seconds=30)

    run_export(str(tmp_path / "short.jsonl"), start, end, created_margin=10)
    run_export(str(tmp_path / "default.jsonl"), start, end)

    assert long_id not in {line["id"] for line in lines_of(tmp_path / "short.jsonl")}
    assert long_id in {line["id"] for line in lines_of(tmp_path / "default.jsonl")}
