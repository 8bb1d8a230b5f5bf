"""
OneInboxCallEventTrigger against scripted loopback servers: 429 with Retry-After, 5xx, a list
that never ends, permanent refusals; and no secret or phone number in its events, repr or logs.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import pytest

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.events.store import MemoryCursorStore
from airflow_provider_oneinbox.events.walk import CallEventWatchError
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers.call_events import OneInboxCallEventTrigger
from tests.conftest import TEST_API_KEY
from tests.helpers.call_events import clock_driver, collect, listed_calls, register_number
from tests.helpers.loopback import Reply, Seen, loopback_connection

CURSOR = ("GET", "/v1/calls/cursor")


def now_iso(offset: float = 0.0) -> str:
    return datetime.fromtimestamp(time.time() + offset, UTC).isoformat()


def analysed_inbound(call_id: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "agent_id": "agt_support",
        "direction": "inbound",
        "status": "completed",
        "to_number": "+15739690001",
        "from_number": "+14155550199",
        "created_at": now_iso(-30),
        "ended_at": now_iso(),  # answered after the watch started: it ended since
        "duration_seconds": 20,
        "analysis": {"outcome": "Interested", "summary": "Wants a callback on +14155550199."},
        "messages": [{"role": "user", "content": "Call me back"}],
    }


def trigger(**kwargs: Any) -> OneInboxCallEventTrigger:
    kwargs.setdefault("agent_ids", ["agt_support"])
    kwargs.setdefault("poll_interval", 0.1)
    made = OneInboxCallEventTrigger(**kwargs)
    made.cursor_store = MemoryCursorStore(f"test-{uuid.uuid4()}")
    return made


def until(condition: Any, seconds: float) -> Any:
    async def drive(events: list[dict[str, Any]]) -> bool:
        return bool(condition(events)) or time.monotonic() > deadline

    deadline = time.monotonic() + seconds
    return drive


def test_a_429_retry_after_is_honoured_and_the_watch_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    times: list[float] = []
    lock = threading.Lock()

    def reply(_seen: Seen) -> Reply:
        with lock:
            times.append(time.monotonic())
            if len(times) == 1:
                return Reply(429, {"detail": "Too many requests"}, {"Retry-After": "2"})
        return Reply(200, {"items": [analysed_inbound("call_1")], "has_more": False, "next_cursor": None})

    with loopback_connection(monkeypatch, {CURSOR: reply}):
        events = asyncio.run(collect(trigger(), until(lambda e: e, 10), timeout=20))
    assert [e["call_id"] for e in events] == ["call_1"]
    assert times[1] - times[0] >= 1.9  # not the 0.1 s poll interval


def test_server_errors_are_waited_out_with_a_growing_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    times: list[float] = []

    def reply(_seen: Seen) -> Reply:
        times.append(time.monotonic())
        if len(times) <= 4:
            return Reply(503, {"detail": "unavailable"})
        return Reply(200, {"items": [analysed_inbound("call_1")], "has_more": False, "next_cursor": None})

    with loopback_connection(monkeypatch, {CURSOR: reply}):
        events = asyncio.run(collect(trigger(), until(lambda e: e, 10), timeout=20))
    assert [e["call_id"] for e in events] == ["call_1"]
    gaps = [b - a for a, b in itertools.pairwise(times[:5])]
    assert gaps[0] >= 0.09
    assert gaps[3] >= 0.75  # 0.1, 0.2, 0.4, 0.8: backoff_delay doubling from the poll interval


def test_a_list_that_never_ends_is_read_at_most_max_pages_per_round(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = itertools.count()

    def reply(_seen: Seen) -> Reply:
        n = next(counter)
        items = [
            {"id": f"c{n}_{i}", "direction": "inbound", "status": "in_progress", "created_at": now_iso()}
            for i in range(100)
        ]
        return Reply(200, {"items": items, "has_more": True, "next_cursor": f"cur{n}"})

    with loopback_connection(monkeypatch, {CURSOR: reply}) as server:
        asyncio.run(collect(trigger(max_pages_per_poll=3, poll_interval=0.2), until(lambda e: False, 2.0)))
    rounds: list[int] = []
    for seen in server.requests(*CURSOR):
        if "cursor" not in parse_qs(seen.query):
            rounds.append(0)
        rounds[-1] += 1
    assert len(rounds) >= 4
    assert max(rounds) == 3


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_permanent_refusal_ends_the_watch_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    with (
        loopback_connection(monkeypatch, {CURSOR: Reply(status, {"detail": "no"})}),
        pytest.raises(CallEventWatchError, match="agt_support failed for good") as raised,
    ):
        asyncio.run(collect(trigger(), until(lambda e: False, 10), timeout=20))
    assert raised.value.status_code == status
    assert TEST_API_KEY not in str(raised.value)


def test_an_unregistered_number_ends_the_watch_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    script = {
        ("GET", "/v1/phone-numbers"): Reply(200, {"items": [{"id": "phn_1", "phone_number": "+15739690002"}]})
    }
    with loopback_connection(monkeypatch, script):
        watch = trigger(agent_ids=None, phone_number="+15739690001")
        with pytest.raises(CallEventWatchError, match="not registered") as raised:
            asyncio.run(collect(watch, until(lambda e: False, 10), timeout=20))
    assert "+15739690001" not in str(raised.value)


def test_no_key_or_phone_number_in_events_repr_or_logs(
    frozen: OneInboxSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim = frozen
    number = register_number(sim, "+15739690001", agent_id="agt_support")
    sim.configure(inbound_calls_per_minute=6)
    watch = trigger(agent_ids=None, phone_number=number["phone_number"], poll_interval=0.05)
    with caplog.at_level(logging.DEBUG):
        events = asyncio.run(collect(watch, clock_driver(sim, steps=16), timeout=60))
    calls = listed_calls(sim, "agt_support")
    numbers = {c["from_number"] for c in calls if c["from_number"]} | {"+15739690001"}
    assert events
    assert len(numbers) > 2
    shown = caplog.text + repr(events) + repr(watch)
    for secret in [TEST_API_KEY, *numbers]:
        assert secret not in shown
    _classpath, kwargs = watch.serialize()
    assert OneInboxCallEventTrigger(**kwargs).serialize() == watch.serialize()
    assert TEST_API_KEY not in repr(kwargs)


def test_calls_a_list_shows_without_post_call_data_are_read_one_by_one_within_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = [f"call_{i}" for i in range(15)]

    def listing(_seen: Seen) -> Reply:  # built when asked: the calls ended after the watch began
        items = [{**analysed_inbound(i), "analysis": {}, "messages": []} for i in ids]  # never carried
        return Reply(200, {"items": items, "has_more": False, "next_cursor": None})

    by_id = dict.fromkeys(ids)
    script: dict[tuple[str, str], Any] = {
        CURSOR: listing,
        **{("GET", f"/v1/calls/{i}"): (lambda _seen, i=i: Reply(200, analysed_inbound(i))) for i in ids},
    }
    with loopback_connection(monkeypatch, script) as server:
        events = asyncio.run(collect(trigger(), until(lambda e: len(e) == 15, 10), timeout=20))
        reads = [s for s in server.seen if s.path.startswith("/v1/calls/call_")]
        rounds = server.requests(*CURSOR)
    assert sorted(e["call_id"] for e in events) == sorted(by_id)
    assert all(e["analysed"] for e in events)  # read, not fired unanalysed after the 900 s grace
    assert len(reads) == 15  # each read once: fired calls are not read again
    assert len(rounds) >= 2  # at most 10 reads a round: two rounds at least
