"""
The call-event cursor (``rules.call_events.CallCursor``): property tests over simulated call
histories, and its stored form. Pure rules: no server, no Airflow.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_oneinbox._compat import UTC, datetime_fromisoformat
from airflow_provider_oneinbox.rules.call_events import (
    CREATED_AT_MARGIN,
    MAX_SETTLED_IDS,
    CallCursor,
    WatchFilter,
    dump_cursors,
    load_cursors,
    merge_cursors,
)

T0 = 1_800_000_000.0


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


@dataclass(frozen=True)
class Sim:
    """One call of a history: created, visible in the list, final, analysed (None: never)."""

    call_id: str
    created: float
    visible: float
    final: float
    ready: float | None
    direction: str

    def record(self, t: float) -> dict[str, Any] | None:
        if t < self.visible:
            return None
        record: dict[str, Any] = {
            "id": self.call_id,
            "agent_id": "agt",
            "direction": self.direction,
            "created_at": iso(self.created),
            "status": "in_progress",
            "ended_at": None,
            "analysis": {"outcome": None, "summary": None},
            "messages": [],
        }
        if t >= self.final:
            record.update(status="completed", ended_at=iso(self.final), duration_seconds=3)
            if self.ready is not None and t >= self.ready:
                record.update(
                    analysis={"outcome": "Interested", "summary": "s"},
                    messages=[{"role": "user", "content": "hi"}],
                )
        return record


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Sim], list[tuple[float, int | None]]]:
    """Calls, and rounds ``(time, pages)``: ``pages`` None reads to the floor, else the newest ``3*pages``."""
    count = draw(st.integers(1, 25))
    calls = []
    created = T0
    for index in range(count):
        created += draw(st.floats(0, 40))
        lag = draw(st.floats(0, CREATED_AT_MARGIN / 2))
        final = created + draw(st.floats(1, 300))
        delay = draw(st.one_of(st.none(), st.floats(0, 120)))
        ready = None if delay is None else final + delay
        direction = draw(st.sampled_from(["inbound", "inbound", "outbound"]))
        calls.append(Sim(f"call_{index}", created, created + lag, final, ready, direction))
    end = max(c.final for c in calls) + 200
    times = sorted(draw(st.lists(st.floats(T0, end), min_size=1, max_size=30)))
    rounds = [(t, draw(st.one_of(st.none(), st.integers(1, 3)))) for t in times]
    # The history ends with full reads long after everything is final (and past the grace).
    rounds += [(end + 1000, None), (end + 2000, None)]
    return calls, rounds


def created_of(record: dict[str, Any]) -> float:
    return datetime_fromisoformat(record["created_at"]).timestamp()


class Lister:
    """
    The list as the trigger's walker reads it: from the top, ``3 * pages`` calls at most; a walk
    that stopped short is continued, below where it stopped, by the next round's second walk.
    """

    def __init__(self, calls: list[Sim]) -> None:
        self.calls = calls
        self.resume: float | None = None

    def rounds(self, t: float, pages: int | None) -> list[tuple[list[dict[str, Any]], tuple[float, float]]]:
        records = sorted(
            (r for c in self.calls if (r := c.record(t)) is not None), key=created_of, reverse=True
        )
        if pages is None:
            return [(records, (-math.inf, math.inf))]
        shown = records[: pages * 3]
        walks = [(shown, (created_of(shown[-1]) if len(shown) < len(records) else -math.inf, math.inf))]
        if len(shown) < len(records) and self.resume is None:
            self.resume = created_of(shown[-1])
        elif self.resume is not None:
            below = [r for r in records if created_of(r) < self.resume][: pages * 3]
            exhausted = len(below) == len([r for r in records if created_of(r) < self.resume])
            walks.append((below, (-math.inf if exhausted else created_of(below[-1]), self.resume)))
            self.resume = None if exhausted else created_of(below[-1])
        return walks


WATCH = WatchFilter(direction="inbound", ready="analysed", analysis_grace=500.0)


def expected(calls: list[Sim]) -> set[str]:
    return {c.call_id for c in calls if c.direction == "inbound"}


def run(cursor: CallCursor, calls: list[Sim], rounds: list[tuple[float, int | None]]) -> dict[str, float]:
    """Feed the rounds; every event as yielded at its round's time. Fired ids -> when (duplicates fail)."""
    fired: dict[str, float] = {}
    lister = Lister(calls)
    for t, pages in rounds:
        for shown, covered in lister.rounds(t, pages):
            for call, _analysed in cursor.observe(shown, WATCH, t, covered=covered):
                assert call["id"] not in fired, f"{call['id']} fired twice"
                fired[call["id"]] = t
                cursor.yielded(call["id"], t)
        cursor.commit(t)
    return fired


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_every_kept_call_fires_exactly_once(
    history: tuple[list[Sim], list[tuple[float, int | None]]],
) -> None:
    calls, rounds = history
    fired = run(CallCursor(T0 - 10, T0 - 10), calls, rounds)
    assert set(fired) == expected(calls)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.data())
def test_replaying_any_committed_snapshot_loses_no_call_and_repeats_only_uncommitted_ones(
    history: tuple[list[Sim], list[tuple[float, int | None]]], data: st.DataObject
) -> None:
    calls, rounds = history
    crash = data.draw(st.integers(0, len(rounds) - 2))
    first = CallCursor(T0 - 10, T0 - 10, commit_delay=3.0)
    before = run(first, calls, rounds[: crash + 1])
    stopped_at = rounds[crash][0]
    stored = json.loads(json.dumps(dump_cursors({"agt": first})))
    second = load_cursors(stored, commit_delay=3.0)["agt"]
    after = run(second, calls, rounds[crash + 1 :])
    assert set(before) | set(after) == expected(calls)  # nothing lost
    committed = {i for i, t in before.items() if stopped_at - t >= 3.0}
    assert not committed & set(after)  # a committed call never fires again
    assert set(before) - committed <= set(after)  # an event maybe lost in the triggerer fires again


def test_out_of_order_readiness_fires_each_call_when_ready_and_the_floor_waits_for_the_oldest() -> None:
    old = Sim("old", T0, T0, T0 + 10, T0 + 900, "inbound")  # analysed last
    new = Sim("new", T0 + 5, T0 + 5, T0 + 6, T0 + 7, "inbound")
    cursor = CallCursor(T0 - 10, T0 - 10)
    fired = []
    for t in (T0 + 8, T0 + 100, T0 + 901, T0 + 2000):
        [(shown, covered)] = Lister([old, new]).rounds(t, None)
        fired += [c["id"] for c, _ in cursor.observe(shown, WATCH, t, covered=covered)]
        for call_id in fired:
            cursor.yielded(call_id, t)
        cursor.commit(t)
        if t == T0 + 100:
            assert fired == ["new"]
            assert cursor.snapshot()["floor"] <= T0  # "old" still open below it: not passed
    assert fired == ["new", "old"]


def test_a_fired_call_is_not_committed_before_the_delay_and_the_floor_stays_below_it() -> None:
    cursor = CallCursor(T0 - 10, T0 - 10, commit_delay=3.0)
    call = Sim("c", T0, T0, T0 + 1, T0 + 2, "inbound")
    [(_fired, analysed)] = cursor.observe([call.record(T0 + 50)], WATCH, T0 + 50, reached=True)  # type: ignore[list-item]
    assert analysed is True
    cursor.yielded("c", 100.0)
    cursor.commit(102.9)
    snap = cursor.snapshot()
    assert "c" not in snap["settled"]
    assert snap["floor"] <= T0
    cursor.commit(103.0)
    assert "c" in cursor.snapshot()["settled"]


def test_analysis_grace_fires_unanalysed_and_the_cutoff_settles_calls_that_ended_before_the_start() -> None:
    cursor = CallCursor.first_start(T0 + 100, start_lookback=0)
    ended_before = Sim("before", T0, T0, T0 + 50, None, "inbound")
    ended_after = Sim("after", T0 + 60, T0 + 60, T0 + 150, None, "inbound")
    watch = WatchFilter(analysis_grace=30)
    records = [r for c in (ended_before, ended_after) if (r := c.record(T0 + 170)) is not None]
    assert cursor.observe(records, watch, T0 + 170, reached=True) == []  # grace not over for "after"
    fired = cursor.observe(records, watch, T0 + 181, reached=True)
    assert [(c["id"], analysed) for c, analysed in fired] == [("after", False)]


def test_the_settled_ids_are_capped_by_raising_the_floor() -> None:
    cursor = CallCursor(T0 - 10, T0 - 10)
    outbound = [
        Sim(f"o{i}", T0 + i, T0 + i, T0 + i, T0 + i, "outbound").record(T0 + 10**6)
        for i in range(MAX_SETTLED_IDS + 50)
    ]
    cursor.observe(outbound, WATCH, T0 + 10**6, reached=False)  # type: ignore[arg-type]
    assert len(cursor.snapshot()["settled"]) <= MAX_SETTLED_IDS
    assert cursor.floor >= T0 + 50


def test_stored_form_round_trips_and_other_versions_or_garbage_mean_a_first_start() -> None:
    cursor = CallCursor(T0, T0 - 5, {"a": T0 + 1})
    stored = json.loads(json.dumps(dump_cursors({"agt": cursor})))
    assert stored["version"] == 1
    again = load_cursors(stored)["agt"]
    assert (again.floor, again.cutoff, again.settled) == (T0, T0 - 5, {"a": T0 + 1})
    assert load_cursors({**stored, "version": 99}) == {}
    assert load_cursors("garbage") == {}
    assert load_cursors({"version": 1, "agents": {"agt": {"floor": "x"}}}) == {}


def test_merging_copies_keeps_the_lowest_floor_and_only_ids_settled_in_every_copy() -> None:
    one = {"agt": CallCursor(T0, T0, {"a": T0 + 1, "b": T0 + 2})}
    two = {"agt": CallCursor(T0 + 1.5, T0, {"b": T0 + 2})}  # "a" is below its floor: settled there too
    three = {"agt": CallCursor(T0, T0, {"b": T0 + 2})}  # "a" unsettled here: must fire again
    assert merge_cursors(one, two)["agt"].settled == {"a": T0 + 1, "b": T0 + 2}
    merged = merge_cursors(one, three)["agt"]
    assert (merged.floor, merged.settled) == (T0, {"b": T0 + 2})


def test_a_continued_walk_counts_only_where_it_joins_what_the_walks_from_the_top_saw() -> None:
    cursor = CallCursor(T0, T0)
    open_call = {"id": "old", "direction": "inbound", "status": "in_progress", "created_at": iso(T0 + 10)}

    def page(*created: float) -> list[dict[str, Any]]:
        return [
            {"id": f"c{t}", "direction": "outbound", "status": "completed", "created_at": iso(t)}
            for t in created
        ]

    cursor.observe(page(T0 + 900, T0 + 800), WATCH, T0 + 1000, covered=(T0 + 800, math.inf))
    # Many new calls later: the next walk from the top stops above where the last one began.
    cursor.observe(page(T0 + 5000, T0 + 4000), WATCH, T0 + 5100, covered=(T0 + 4000, math.inf))
    # The continuation of the first walk reaches the floor, but does not join the second one.
    cursor.observe([open_call, *page(T0 + 700)], WATCH, T0 + 5100, covered=(-math.inf, T0 + 800))
    assert cursor.floor == T0  # calls created between T0 + 900 and T0 + 4000 were never seen
    cursor.observe(page(T0 + 3900), WATCH, T0 + 5200, covered=(-math.inf, T0 + 4000))  # joins it
    assert cursor.floor == T0 + 10  # up to the open call, and no further
