"""
One walk down an agent's call list (``GET /v1/calls/cursor``, newest first), as deep as needed
and no deeper than a page budget; and what a walk keeps of each call (:func:`slim`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox.exceptions import (
    OneInboxAuthError,
    OneInboxConfigError,
    OneInboxError,
    OneInboxNotFoundError,
    OneInboxTLSError,
)
from airflow_provider_oneinbox.hooks.responses import next_cursor
from airflow_provider_oneinbox.rules.call_events import parse_time
from airflow_provider_oneinbox.rules.results import analysis_of, post_call_data_ready

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
    return kept


@dataclass(frozen=True)
class Round:
    """
    One walk's result for one agent.

    :param agent_id: The agent.
    :param calls: The calls read, slimmed, newest first.
    :param covered_to: Every call created at or after this (epoch seconds) was on the pages read:
        ``-inf`` when the walk reached the end of the list.
    :param server_time: The newest ``created_at`` / ``ended_at`` read (a lower bound of the API's clock).
    """

    agent_id: str
    calls: tuple[dict[str, Any], ...]
    covered_to: float
    server_time: float | None = None

    def as_raw(self) -> dict[str, Any]:
        """A plain-data form (a shared stream's raw event)."""
        covered = None if math.isinf(self.covered_to) else self.covered_to
        return {
            "agent_id": self.agent_id,
            "calls": list(self.calls),
            "covered_to": covered,
            "server_time": self.server_time,
        }

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> Round:
        """The round of :meth:`as_raw`'s output."""
        covered = raw.get("covered_to")
        return cls(
            str(raw.get("agent_id")),
            tuple(raw.get("calls") or ()),
            -math.inf if covered is None else float(covered),
            raw.get("server_time"),
        )


async def walk(hook: OneInboxAsyncHook, agent_id: str, depth: float, max_pages: int) -> Round:
    """
    Read the agent's calls newest first until a page reaches below ``depth`` (``created_at``),
    the list ends, or ``max_pages`` pages were read. Errors propagate (the caller backs off).

    :param hook: An async hook (its retries off: the caller owns the backoff).
    :param agent_id: The agent.
    :param depth: How far down to read (epoch seconds).
    :param max_pages: Most pages to read.
    """
    calls: list[dict[str, Any]] = []
    seen: set[str] = set()
    cursor: str | None = None
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
            return Round(agent_id, tuple(calls), -math.inf, newest)
        if oldest < depth:
            break
    return Round(agent_id, tuple(calls), oldest, newest)
