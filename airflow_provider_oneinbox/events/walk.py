"""
One walk down an agent's call list (``GET /v1/calls/cursor``, newest first), as deep as needed
and no deeper than a page budget; and what a walk keeps of each call (:func:`slim`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox.exceptions import (
    OneInboxAuthError,
    OneInboxConfigError,
    OneInboxError,
    OneInboxNotFoundError,
    OneInboxTLSError,
)
from airflow_provider_oneinbox.hooks.responses import next_cursor
from airflow_provider_oneinbox.rules.backoff import backoff_delay
from airflow_provider_oneinbox.rules.call_events import parse_time
from airflow_provider_oneinbox.rules.results import analysis_of, normalize_messages, post_call_data_ready

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

#: Largest page the API serves: one request per round for most agents.
PAGE_SIZE = 100
#: Fields of a listed call the watch reads; everything else (transcript, summary, caller) is dropped.
_KEPT = (
    "id",
    "agent_id",
    "direction",
    "type",
    "status",
    "to_number",
    "created_at",
    "ended_at",
    "duration_seconds",
)


class CallEventWatchError(OneInboxError):
    """The watch cannot go on: the API refused it for good (bad key, no access, unknown agent or number)."""


def is_permanent(exc: OneInboxError) -> bool:
    """
    Whether a failed request will fail again however long the watch waits: 401, 403, 404, a TLS
    or configuration error. Everything else (429, 5xx, timeouts, a malformed answer) is waited out.

    :param exc: The failure.
    """
    if isinstance(exc, OneInboxAuthError | OneInboxNotFoundError | OneInboxTLSError | OneInboxConfigError):
        return True
    return exc.status_code in (401, 403, 404)


#: Longest pause between two rounds after failures in a row (a 429's Retry-After up to this too).
MAX_BACKOFF_SECONDS = 300.0


def failure_delay(failures: int, poll_interval: float, exc: OneInboxError) -> float:
    """
    Seconds before reading a list again after ``failures`` failed reads in a row: doubling from
    ``poll_interval``, at least a 429's ``Retry-After``, at most :data:`MAX_BACKOFF_SECONDS` (or the
    interval, if longer).

    :param failures: Failed reads in a row, this one included.
    :param poll_interval: The watch's interval between rounds.
    :param exc: The last failure.
    """
    return backoff_delay(
        failures,
        base=poll_interval,
        cap=max(MAX_BACKOFF_SECONDS, poll_interval),
        retry_after=getattr(exc, "retry_after", None),
    )


def slim(call: Mapping[str, Any]) -> dict[str, Any]:
    """
    What a watch keeps of a listed call: ids, direction, status, times, the called number (for a
    phone-number watch's filter; never put in an event or a log), the outcome, and whether the
    post-call data is there (``analysis.ready``), so that the rules decide as on the full record.

    :param call: A listed call record.
    """
    kept = {name: call.get(name) for name in _KEPT}
    ready = post_call_data_ready(call)
    outcome = call.get("outcome") or (analysis_of(call) or {}).get("outcome")
    kept["outcome"] = outcome if isinstance(outcome, str) else None
    kept["analysis"] = {"outcome": kept["outcome"], "ready": True} if ready else {}
    # Whether this record shows that the list carries post-call data (see events.reads).
    kept["listed_post_call_data"] = bool(
        ready and normalize_messages(call.get("messages")) and analysis_of(call)
    )
    return kept


@dataclass(frozen=True)
class Round:
    """
    One walk's result for one agent.

    :param agent_id: The agent.
    :param calls: The calls read, slimmed, newest first.
    :param covered_to: Every call created at or after this (epoch seconds) and up to
        ``covered_from`` was on the pages read: ``-inf`` when the walk reached the end of the list.
    :param server_time: The newest ``created_at`` / ``ended_at`` read (a lower bound of the API's clock).
    :param covered_from: ``inf`` for a walk from the top of the list; for a walk continuing one
        that ran out of pages, where that one stopped.
    :param next_cursor: Where a walk that ran out of pages would go on (``None`` if it did not).
    """

    agent_id: str
    calls: tuple[dict[str, Any], ...]
    covered_to: float
    server_time: float | None = None
    covered_from: float = math.inf
    next_cursor: str | None = field(default=None, repr=False)

    @property
    def covered(self) -> tuple[float, float]:
        """``(covered_to, covered_from)``."""
        return (self.covered_to, self.covered_from)

    def as_raw(self) -> dict[str, Any]:
        """A plain-data form (a shared stream's raw event; infinities as ``None``)."""
        return {
            "agent_id": self.agent_id,
            "calls": list(self.calls),
            "covered_to": None if math.isinf(self.covered_to) else self.covered_to,
            "covered_from": None if math.isinf(self.covered_from) else self.covered_from,
            "server_time": self.server_time,
        }

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> Round:
        """The round of :meth:`as_raw`'s output."""
        low, high = raw.get("covered_to"), raw.get("covered_from")
        return cls(
            str(raw.get("agent_id")),
            tuple(raw.get("calls") or ()),
            -math.inf if low is None else float(low),
            raw.get("server_time"),
            math.inf if high is None else float(high),
        )


async def walk(
    hook: OneInboxAsyncHook,
    agent_id: str,
    depth: float,
    max_pages: int,
    *,
    cursor: str | None = None,
    covered_from: float = math.inf,
) -> Round:
    """
    Read the agent's calls newest first until a page reaches below ``depth`` (``created_at``),
    the list ends, or ``max_pages`` pages were read. Errors propagate (the caller backs off).

    :param hook: An async hook (its retries off: the caller owns the backoff).
    :param agent_id: The agent.
    :param depth: How far down to read (epoch seconds).
    :param max_pages: Most pages to read.
    :param cursor: Go on from this page cursor (a walk that ran out of pages) instead of the top.
    :param covered_from: For a continued walk, where the walk it continues stopped.
    """
    calls: list[dict[str, Any]] = []
    seen: set[str] = set()
    oldest = math.inf
    newest: float | None = None
    for _ in range(max(1, max_pages)):
        page = await hook.list_calls_cursor(agent_id=agent_id, limit=PAGE_SIZE, cursor=cursor)
        for item in page.get("items") or ():
            if not isinstance(item.get("id"), str) or item["id"] in seen:
                continue
            seen.add(item["id"])
            calls.append(slim(item))
            created = parse_time(item.get("created_at"))
            if created is not None:
                oldest = min(oldest, created)
            for stamp in (created, parse_time(item.get("ended_at"))):
                if stamp is not None:
                    newest = stamp if newest is None else max(newest, stamp)
        cursor = next_cursor(page)
        if cursor is None:
            return Round(agent_id, tuple(calls), -math.inf, newest, covered_from)
        if oldest < depth:
            return Round(agent_id, tuple(calls), oldest, newest, covered_from)
    return Round(agent_id, tuple(calls), oldest, newest, covered_from, next_cursor=cursor)


class Walker:
    """
    One agent's walks for one reader (a feed, a shared stream, a watch catching up): each round
    walks from the top; when a walk runs out of pages short of the depth, later rounds continue
    it from where it stopped with half of their page budget, until it reaches the depth. So a
    deep backlog is read over several rounds, each bounded by ``max_pages``.

    :param agent_id: The agent.
    :param max_pages: Most pages one round reads in all.
    """

    def __init__(self, agent_id: str, max_pages: int) -> None:
        self.agent_id = agent_id
        self.max_pages = max(1, max_pages)
        self.resume: tuple[str, float] | None = None
        self._continue_now = False

    async def rounds(self, hook: OneInboxAsyncHook, depth: float) -> list[Round]:
        """
        This round's walks: from the top, then (if one is pending) the continuation.

        :param hook: An async hook.
        :param depth: How far down to read.
        """
        if self.resume is not None and self.max_pages == 1:
            # One page a round: rounds take turns between the top and the continuation.
            self._continue_now = not self._continue_now
            if self._continue_now:
                return await self._continue(hook, depth, 1)
        top_pages = self.max_pages if self.resume is None else max(1, self.max_pages // 2)
        top = await walk(hook, self.agent_id, depth, top_pages)
        walks = [top]
        if top.next_cursor is not None and self.resume is None:
            self.resume = (top.next_cursor, top.covered_to)
            return walks
        if top.next_cursor is None and top.covered_to <= depth:
            self.resume = None  # the top walk alone went deep enough
        if self.resume is not None and self.max_pages > 1:
            walks += await self._continue(hook, depth, self.max_pages - top_pages)
        return walks

    async def _continue(self, hook: OneInboxAsyncHook, depth: float, pages: int) -> list[Round]:
        assert self.resume is not None
        cursor, stopped = self.resume
        try:
            more = await walk(hook, self.agent_id, depth, pages, cursor=cursor, covered_from=stopped)
        except OneInboxError as exc:
            if exc.transient:
                raise
            self.resume = None  # e.g. the page cursor expired: start again from the top
            return []
        self.resume = (more.next_cursor, more.covered_to) if more.next_cursor is not None else None
        return [more]
