"""
The search for a call an earlier try placed: it covers the window since the first attempt, and
stops at its bounds as "could not rule it out", never as "no call", against list servers of the
tests' own (real loopback HTTP) that page honestly, endlessly or nonsensically.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.placed_calls import (
    CLOCK_SKEW_MARGIN,
    IDEMPOTENCY_METADATA_KEY,
    search_placed_call,
)
from tests.helpers.loopback import Reply, Seen, loopback_connection

CURSOR_PATH = "/v1/calls/cursor"
KEY = "airflow-0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def agent_calls(
    count: int, *, every: timedelta = timedelta(minutes=1), keyed: int | None = None
) -> list[dict[str, Any]]:
    """``count`` calls, newest first, one per ``every`` back from NOW; call ``keyed`` carries KEY."""
    calls = []
    for i in range(count):
        metadata = {IDEMPOTENCY_METADATA_KEY: KEY if i == keyed else f"other-{i}"}
        created = (NOW - i * every).isoformat().replace("+00:00", "Z")
        calls.append({"id": f"call_{i}", "status": "completed", "created_at": created, "metadata": metadata})
    return calls


def paged(calls: list[dict[str, Any]]) -> Any:
    """An honest cursor list over ``calls`` (the cursor is the next offset)."""

    def answer(seen: Seen) -> Reply:
        query = parse_qs(seen.query)
        start = int(query.get("cursor", ["0"])[0])
        limit = int(query["limit"][0])
        page = calls[start : start + limit]
        more = start + limit < len(calls)
        return Reply(
            200,
            {
                "items": page,
                "next_cursor": str(start + limit) if more else None,
                "has_more": more,
                "limit": limit,
            },
        )

    return answer


def search(since: datetime, max_calls: int = 5000, time_budget: float = 30.0) -> Any:
    with OneInboxHook() as hook:
        return search_placed_call(
            hook, agent_id="agt_sales", key=KEY, since=since, max_calls=max_calls, time_budget=time_budget
        )


def test_the_walk_ends_at_the_first_page_older_than_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1000 calls a minute apart; the first attempt was 150 minutes ago: pages 1-2 are newer,
    # page 3 (calls 200-299, 200-299 minutes old) is wholly older than the window and its margin.
    with loopback_connection(monkeypatch, {("GET", CURSOR_PATH): paged(agent_calls(1000))}) as server:
        found = search(NOW - timedelta(minutes=150))
    assert (found.call, found.conclusive) == (None, True)
    assert len(server.requests(path=CURSOR_PATH)) == 3
    assert found.examined == 300


def test_the_margin_keeps_a_call_stamped_just_before_the_attempt_in_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The call was stamped 5 minutes before the recorded attempt (clocks disagree): still found.
    calls = agent_calls(400, keyed=155)
    with loopback_connection(monkeypatch, {("GET", CURSOR_PATH): paged(calls)}):
        found = search(NOW - timedelta(minutes=150))
    assert timedelta(minutes=5) <= CLOCK_SKEW_MARGIN
    assert found.call is not None
    assert found.call["id"] == "call_155"
    assert found.conclusive


def test_a_busy_agent_is_searched_back_to_the_attempt_not_to_a_fixed_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 3000 calls in the last 50 minutes, the wanted one 2500 calls back: the old "200 newest" missed it.
    calls = agent_calls(3000, every=timedelta(seconds=1), keyed=2500)
    with loopback_connection(monkeypatch, {("GET", CURSOR_PATH): paged(calls)}):
        found = search(NOW - timedelta(hours=1))
    assert found.call is not None
    assert found.call["id"] == "call_2500"


def test_reaching_the_count_bound_is_inconclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = agent_calls(3000, every=timedelta(seconds=1))
    with loopback_connection(monkeypatch, {("GET", CURSOR_PATH): paged(calls)}) as server:
        found = search(NOW - timedelta(hours=1), max_calls=450)
    assert (found.call, found.conclusive, found.examined) == (None, False, 450)
    assert "450 calls" in found.reason
    assert len(server.requests(path=CURSOR_PATH)) == 5  # 100, 100, 100, 100, then the last 50


@pytest.mark.parametrize(
    ("page", "reason"),
    [
        # Empty, yet "more follow", with a new cursor every time: the walk that never ended.
        (lambda n: {"items": [], "next_cursor": f"c{n}", "has_more": True}, "empty page"),
        # Calls newer than the window, and the same cursor again and again.
        (lambda n: {"items": agent_calls(100), "next_cursor": "same", "has_more": True}, "cursor"),
    ],
    ids=["empty_pages_claiming_more", "repeated_cursor"],
)
def test_a_nonsensical_list_is_inconclusive_at_once(
    monkeypatch: pytest.MonkeyPatch, page: Any, reason: str
) -> None:
    counter = iter(range(10_000))
    script = {("GET", CURSOR_PATH): lambda seen: Reply(200, page(next(counter)))}
    with loopback_connection(monkeypatch, script) as server:
        found = search(NOW - timedelta(hours=1))
    assert (found.call, found.conclusive) == (None, False)
    assert reason in found.reason
    assert len(server.requests(path=CURSOR_PATH)) <= 2


def test_the_time_budget_ends_an_endless_honest_looking_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = iter(range(10_000))

    def endless(seen: Seen) -> Reply:
        n = next(counter)
        return Reply(200, {"items": agent_calls(100), "next_cursor": f"c{n}", "has_more": True})

    with loopback_connection(monkeypatch, {("GET", CURSOR_PATH): endless}) as server:
        found = search(NOW - timedelta(hours=1), max_calls=10**9, time_budget=0.5)
    assert (found.call, found.conclusive) == (None, False)
    assert "out of time" in found.reason
    assert 1 <= len(server.requests(path=CURSOR_PATH)) < 1000


def test_a_page_that_stalls_past_the_time_budget_ends_the_walk_inconclusively(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    def stalled(seen: Seen) -> Reply:
        time.sleep(3.0)
        return Reply(200, {"items": agent_calls(100), "next_cursor": "c1", "has_more": True})

    with loopback_connection(monkeypatch, {("GET", CURSOR_PATH): stalled}):
        started = time.monotonic()
        found = search(NOW - timedelta(hours=1), time_budget=0.5)
        took = time.monotonic() - started
    assert (found.call, found.conclusive) == (None, False)
    assert "out of time" in found.reason
    assert took < 2.5  # the stalled page is cut at the budget, not read to its end (3 s)
