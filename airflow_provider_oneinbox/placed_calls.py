"""
Finding the calls earlier tries placed, before dialling again.

A retry (or a create whose answer was lost) must not ring the same phone twice, and the API
documents no idempotency. So every call carries its idempotency key in its metadata, and before
dialling the caller walks the agent's calls (``GET /v1/calls/cursor``, newest first) back to the
moment the first try could have placed it; one walk resolves many keys at once (a campaign's
contacts). The walk is bounded in calls examined and in total time; a walk that stops at a
bound, or on a page that makes no sense (a repeated cursor, an empty page that claims more), has
not ruled the calls out, and the caller must fail rather than dial.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox._compat import UTC, datetime_fromisoformat

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

#: Metadata key under which a call carries the idempotency key of the task instance that placed it.
IDEMPOTENCY_METADATA_KEY = "airflow_idempotency_key"
#: Calls created this long before the window opens are still examined: the API's clock and the
#: worker's may disagree, and a call is stamped when the API stores it, not when it was sent.
CLOCK_SKEW_MARGIN = timedelta(minutes=10)
#: Longest a search may take in all, retries of its list requests included.
SEARCH_TIME_BUDGET_SECONDS = 300.0
#: Calls per list request.
SEARCH_PAGE_SIZE = 100


@dataclass(frozen=True)
class SearchOutcome:
    """
    What a search for a placed call found.

    :param call: The call carrying the key, if one was found.
    :param conclusive: Whether the search covered the whole window, so that ``call is None``
        means no such call exists. ``False``: it stopped at a bound and rules nothing out.
    :param reason: Why the search was not conclusive (for the task's error message).
    :param examined: How many calls the search read.
    """

    call: dict[str, Any] | None
    conclusive: bool
    reason: str = ""
    examined: int = 0


def parse_created_at(value: Any) -> datetime | None:
    """
    A call's ``created_at`` as an aware datetime, or ``None`` if it is missing or unreadable.

    :param value: The ``created_at`` field (ISO 8601; a trailing ``Z`` is accepted; a naive
        time is read as UTC).
    """
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime_fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _key_of(call: dict[str, Any]) -> str | None:
    """The idempotency key a listed call carries; ``None`` if its metadata holds none (or no string)."""
    metadata = call.get("metadata")
    key = metadata.get(IDEMPOTENCY_METADATA_KEY) if isinstance(metadata, dict) else None
    return key if isinstance(key, str) else None


@dataclass(frozen=True)
class MultiSearchOutcome:
    """
    What one walk for many placed calls found.

    :param calls: The call found for each key that was found (key -> list item).
    :param conclusive: Whether the walk covered the whole window, so that a key missing from
        ``calls`` has no call. ``False``: it stopped at a bound and rules nothing out.
    :param reason: Why the walk was not conclusive (for the task's error message).
    :param examined: How many calls the walk read.
    """

    calls: dict[str, dict[str, Any]]
    conclusive: bool
    reason: str = ""
    examined: int = 0


def search_placed_calls(
    hook: OneInboxHook,
    *,
    agent_id: str,
    keys: Collection[str],
    since: datetime,
    max_calls: int,
    time_budget: float = SEARCH_TIME_BUDGET_SECONDS,
) -> MultiSearchOutcome:
    """
    One walk of the agent's calls, newest first, for the calls whose metadata carries any of ``keys``.

    The walk ends when every key is found, when the list ends, or once a whole page holds only
    calls created before ``since - CLOCK_SKEW_MARGIN`` (the list is assumed newest first; a
    page that mixes older and newer calls does not end it). Those three are conclusive. It
    also ends, inconclusively, after ``max_calls`` calls, after ``time_budget`` seconds, on a
    cursor it has already followed, or on an empty page that says more follow. Errors of the
    list requests (after the connection's retries) propagate, unless they end the walk's time:
    a page cut off by ``time_budget`` ends the walk inconclusively, like the budget itself. If two
    calls carry one key, the newest is kept.

    :param hook: The hook that lists the calls.
    :param agent_id: The agent the calls were placed with.
    :param keys: The idempotency keys to look for (at least one).
    :param since: The earliest time any of the calls could have been placed (aware datetime).
    :param max_calls: At most this many calls are read (> 0).
    :param time_budget: At most this many seconds are spent.
    """
    from airflow_provider_oneinbox.exceptions import OneInboxError
    from airflow_provider_oneinbox.hooks.responses import next_cursor

    wanted = set(keys)
    if not wanted:
        raise ValueError("search_placed_calls needs at least one key.")
    opens = since - CLOCK_SKEW_MARGIN
    deadline = time.monotonic() + time_budget
    cursor: str | None = None
    followed: set[str] = set()
    found: dict[str, dict[str, Any]] = {}
    examined = 0
    while True:
        limit = max(1, min(SEARCH_PAGE_SIZE, max_calls - examined))
        try:
            # Each page, its retries included, gets only what is left of the walk's time.
            page = hook.list_calls_cursor(
                agent_id=agent_id,
                limit=limit,
                cursor=cursor,
                timeout=max(deadline - time.monotonic(), 0.05),
            )
        except OneInboxError:
            if time.monotonic() < deadline:
                raise
            reason = f"it ran out of time ({time_budget:.0f}s) after {examined} calls"
            return MultiSearchOutcome(found, conclusive=False, reason=reason, examined=examined)
        items = [item for item in page.get("items") or () if isinstance(item, dict)]
        examined += len(items)
        for item in items:
            key = _key_of(item)
            if key in wanted and key not in found:
                found[key] = item
        if len(found) == len(wanted):
            return MultiSearchOutcome(found, conclusive=True, examined=examined)
        following = next_cursor(page)
        created = [parse_created_at(item.get("created_at")) for item in items]
        if following is None or (created and all(c is not None and c < opens for c in created)):
            return MultiSearchOutcome(found, conclusive=True, examined=examined)
        reason = ""
        if not items:
            reason = "the API returned an empty page that says more calls follow"
        elif following in followed or following == cursor:
            reason = "the API returned a cursor it had returned before"
        elif examined >= max_calls:
            reason = f"it read {examined} calls (reattach_search_limit) without reaching {opens.isoformat()}"
        elif time.monotonic() >= deadline:
            reason = f"it ran out of time ({time_budget:.0f}s) after {examined} calls"
        if reason:
            return MultiSearchOutcome(found, conclusive=False, reason=reason, examined=examined)
        followed.add(following)
        cursor = following


def search_placed_call(
    hook: OneInboxHook,
    *,
    agent_id: str,
    key: str,
    since: datetime,
    max_calls: int,
    time_budget: float = SEARCH_TIME_BUDGET_SECONDS,
) -> SearchOutcome:
    """
    Walk the agent's calls, newest first, for the one whose metadata carries ``key``.

    :func:`search_placed_calls` for one key: it ends, conclusively or not, on the same rules.

    :param hook: The hook that lists the calls.
    :param agent_id: The agent the call was placed with.
    :param key: The task instance's idempotency key.
    :param since: The earliest time the call could have been placed (aware datetime).
    :param max_calls: At most this many calls are read (> 0).
    :param time_budget: At most this many seconds are spent.
    """
    outcome = search_placed_calls(
        hook, agent_id=agent_id, keys=(key,), since=since, max_calls=max_calls, time_budget=time_budget
    )
    return SearchOutcome(outcome.calls.get(key), outcome.conclusive, outcome.reason, outcome.examined)
