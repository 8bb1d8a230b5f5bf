"""Row 1 of issue 10: every page walk of the hooks is bounded and never ends silently as complete."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_oneinbox.exceptions import OneInboxInputError, OneInboxPaginationError
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from tests.helpers.hostile import Peer, hostile_connection, serve_forever
from tests.helpers.loopback import Reply, Seen, loopback_connection

CURSOR_PATH = "/v1/calls/cursor"


def _call(number: int) -> dict[str, Any]:
    return {"id": f"call_{number}", "status": "completed"}


#: Pages after which a lying server gives up and ends its list, so that a walk without bounds
#: ends too (as if complete: the failure these tests look for) instead of running forever.
GIVE_UP_AFTER = 1500
LAST_PAGE = {"items": [], "has_more": False, "next_cursor": None}


def empty_pages_claiming_more() -> Callable[[Seen], Reply]:
    """``{"items": [], "has_more": true}`` with a new cursor each time."""
    counter = itertools.count()

    def reply(_seen: Seen) -> Reply:
        number = next(counter)
        if number >= GIVE_UP_AFTER:
            return Reply(200, LAST_PAGE)
        return Reply(200, {"items": [], "has_more": True, "next_cursor": f"c{number}"})

    return reply


def repeating_cursor(_seen: Seen) -> Reply:
    """Full pages whose ``next_cursor`` is always the same."""
    return Reply(200, {"items": [_call(1)], "has_more": True, "next_cursor": "again"})


def endless_new_cursors() -> Callable[[Seen], Reply]:
    """Full pages, a new cursor each time, forever."""
    counter = itertools.count()

    def reply(_seen: Seen) -> Reply:
        number = next(counter)
        if number >= GIVE_UP_AFTER:
            return Reply(200, LAST_PAGE)
        return Reply(200, {"items": [_call(number)], "has_more": True, "next_cursor": f"c{number}"})

    return reply


def more_without_a_cursor(_seen: Seen) -> Reply:
    return Reply(200, {"items": [_call(1)], "has_more": True, "next_cursor": None})


def offset_empty_short_of_total(_seen: Seen) -> Reply:
    return Reply(200, {"items": [], "total": 50, "limit": 10, "offset": 0})


def _walk(iterator: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(iterator)


@pytest.mark.parametrize(
    ("script", "reason", "most_requests"),
    [
        (empty_pages_claiming_more, "empty_page", 1),
        (lambda: repeating_cursor, "repeated_cursor", 2),
        (lambda: more_without_a_cursor, "no_cursor", 1),
    ],
    ids=["empty-page", "repeated-cursor", "no-cursor"],
)
def test_a_lying_cursor_page_stops_the_walk(
    monkeypatch: pytest.MonkeyPatch, script: Callable[[], Any], reason: str, most_requests: int
) -> None:
    with loopback_connection(monkeypatch, {("GET", CURSOR_PATH): script()}) as server:
        with pytest.raises(OneInboxPaginationError) as info:
            _walk(OneInboxHook().iter_calls(agent_id="agt_1"))
        assert len(server.requests()) <= most_requests
    assert info.value.reason == reason
    assert info.value.transient is False
    assert "not the whole list" in str(info.value)


def test_an_endless_walk_stops_at_max_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    with loopback_connection(monkeypatch, {("GET", CURSOR_PATH): endless_new_cursors()}) as server:
        with pytest.raises(OneInboxPaginationError, match="max_pages=25") as info:
            _walk(OneInboxHook().iter_calls(max_pages=25))
        assert len(server.requests()) == 25
    assert info.value.pages == 25


def test_an_endless_walk_stops_at_max_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(seen: Seen) -> Reply:
        time.sleep(0.1)
        return endless(seen)

    endless = endless_new_cursors()
    with loopback_connection(monkeypatch, {("GET", CURSOR_PATH): slow}):
        started = time.monotonic()
        with pytest.raises(OneInboxPaginationError, match=r"max_seconds=0\.5") as info:
            _walk(OneInboxHook().iter_calls(max_seconds=0.5))
    assert time.monotonic() - started < 2
    assert info.value.reason == "max_seconds"


def test_the_default_bound_stops_an_endless_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without any bound given: 1000 pages (a raw server answering in one write, to be quick)."""
    counter = itertools.count()

    def page() -> dict[str, Any]:
        number = next(counter)
        if number >= GIVE_UP_AFTER:
            return LAST_PAGE
        return {"items": [_call(number)], "has_more": True, "next_cursor": f"c{number}"}

    def behaviour(peer: Peer, _index: int) -> None:
        serve_forever(peer, lambda _request: peer.respond(200, page()))

    with hostile_connection(monkeypatch, behaviour, lifetime=60) as server:
        with pytest.raises(OneInboxPaginationError, match="max_pages=1000"):
            _walk(OneInboxHook().iter_calls())
        assert len(server.requests) == 1000


@pytest.mark.parametrize(
    ("path", "walk"),
    [
        ("/v1/calls", lambda hook: hook.iter_calls_offset()),
        ("/v1/agents", lambda hook: hook.iter_agents()),
    ],
    ids=["calls-offset", "agents"],
)
def test_an_empty_offset_page_short_of_its_total_stops_the_walk(
    monkeypatch: pytest.MonkeyPatch, path: str, walk: Callable[[OneInboxHook], Iterator[Any]]
) -> None:
    with (
        loopback_connection(monkeypatch, {("GET", path): offset_empty_short_of_total}),
        pytest.raises(OneInboxPaginationError, match="empty page") as info,
    ):
        _walk(walk(OneInboxHook()))
    assert info.value.reason == "empty_page"


def test_a_complete_walk_and_max_items_still_end_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = [
        Reply(200, {"items": [_call(1), _call(2)], "has_more": True, "next_cursor": "c1"}),
        Reply(200, {"items": [_call(3)], "has_more": False, "next_cursor": None}),
    ]
    with loopback_connection(monkeypatch, {("GET", CURSOR_PATH): pages}):
        assert [c["id"] for c in OneInboxHook().iter_calls()] == ["call_1", "call_2", "call_3"]
    with loopback_connection(monkeypatch, {("GET", CURSOR_PATH): endless_new_cursors()}):
        assert len(_walk(OneInboxHook().iter_calls(max_items=5))) == 5


def test_bounds_are_validated_before_any_request() -> None:
    for bad in ({"max_pages": 0}, {"max_seconds": 0}, {"max_seconds": "soon"}):
        with pytest.raises(OneInboxInputError):
            OneInboxHook().iter_calls(**bad)


def test_a_stalled_page_request_cannot_carry_the_walk_past_max_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The second page never comes: the walk's deadline cuts its request, not the 10 s timeout."""
    served = itertools.count()

    def behaviour(peer: Peer, _index: int) -> None:
        def answer(_request: Any) -> bool:
            if next(served) == 0:
                return peer.respond(200, {"items": [_call(1)], "has_more": True, "next_cursor": "c1"})
            peer.stall(8)  # a page that does not come
            return False

        serve_forever(peer, answer)

    with hostile_connection(monkeypatch, behaviour, lifetime=10, timeout=10) as server:
        started = time.monotonic()
        walked: list[dict[str, Any]] = []
        with pytest.raises(OneInboxPaginationError, match=r"max_seconds=0\.5") as info:
            walked.extend(OneInboxHook().iter_calls(max_seconds=0.5))
        elapsed = time.monotonic() - started
        assert len(server.requests) == 2, "the cut page was not retried past the deadline"
    assert 0.5 <= elapsed < 1.5
    assert [call["id"] for call in walked] == ["call_1"]
    assert (info.value.reason, info.value.pages) == ("max_seconds", 1)
