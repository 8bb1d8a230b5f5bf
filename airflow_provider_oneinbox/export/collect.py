"""
Which calls belong to the interval: a bounded walk of the cursor list, then a bounded wait for
post-call data that is not there yet.

OneInbox has no date filter on its call lists. The walk reads ``GET /v1/calls/cursor`` newest
first (the unfiltered list, or each agent's with ``agent_ids``) and keeps every call whose
``ended_at`` lies in ``[start, end)``. It stops at the first call created before
``start - created_margin``: **assuming the list is ordered by creation** (as the API's lists are
observed to be) and that no call lasts longer than the margin (default 6 h, plus clock skew),
nothing further down can have ended in the interval. A walk that would need more than
``max_pages`` pages fails (``OneInboxPaginationError``): a partial interval is never exported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.exceptions import OneInboxPaginationError
from airflow_provider_oneinbox.export.spec import ExportSpec, api_instant
from airflow_provider_oneinbox.rules.results import post_call_data_ready

if TYPE_CHECKING:
    from logging import Logger

    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

#: Calls per page requested.
PAGE_SIZE = 100


@dataclass
class Collected:
    """
    The calls of an interval, by id, and what the walk read.

    :param calls: Call records by id.
    :param read: Calls read per list walked (key ``None``: the unfiltered list).
    :param ready: Ids whose post-call data was there.
    """

    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    read: dict[str | None, int] = field(default_factory=dict)
    ready: set[str] = field(default_factory=set)


def belongs(call: dict[str, Any], spec: ExportSpec) -> bool:
    """
    Whether a call is exported: ``ended_at`` in ``[start, end)`` and the filters match.

    :param call: A call record.
    :param spec: The export.
    """
    ended = api_instant(call.get("ended_at"))
    if ended is None or not spec.start <= ended < spec.end:
        return False
    if spec.direction is not None and call.get("direction") != spec.direction:
        return False
    if spec.agent_ids is not None and call.get("agent_id") not in spec.agent_ids:
        return False
    return spec.statuses is None or call.get("status") in spec.statuses


def walk_interval(hook: OneInboxHook, spec: ExportSpec, log: Logger) -> Collected:
    """
    Every call of the interval that the lists hold (see the module docstring).

    :param hook: A sync hook.
    :param spec: The export.
    :param log: Where progress goes (counts only).
    :raises OneInboxPaginationError: A walk needed more than ``max_pages`` pages (or time).
    """
    found = Collected()
    floor = spec.walk_floor
    for agent_id in spec.agent_ids or (None,):
        read = 0
        try:
            for call in hook.iter_calls(
                agent_id=agent_id, page_size=PAGE_SIZE, max_pages=spec.max_pages, max_seconds=spec.max_seconds
            ):
                read += 1
                created = api_instant(call.get("created_at"))
                if created is not None and created < floor:
                    break
                if belongs(call, spec):
                    found.calls[str(call["id"])] = call
        except OneInboxPaginationError as exc:
            whose = f"agent {agent_id!r}'s calls" if agent_id else "the call list"
            raise OneInboxPaginationError(
                f"Exporting [{spec.start.isoformat()}, {spec.end.isoformat()}) needs more of {whose} than "
                f"allowed ({exc.message}); nothing was written. Raise max_pages (now {spec.max_pages}) "
                "or max_seconds if the interval really holds that many calls",
                pages=exc.pages,
                reason=exc.reason,
            ) from None
        found.read[agent_id] = read
        log.info(
            "Read %d call(s) of %s down to the walk floor; %d belong to the interval so far",
            read,
            f"agent {agent_id}" if agent_id else "the call list",
            len(found.calls),
        )
    found.ready = {call_id for call_id, call in found.calls.items() if post_call_data_ready(call)}
    return found


def wait_for_post_call_data(
    hook: OneInboxHook,
    spec: ExportSpec,
    found: Collected,
    log: Logger,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """
    Re-read the calls whose post-call data is missing, until it is there or the grace is over.

    A call is waited for only while its ``ended_at`` is less than ``analysis_grace`` ago, and the
    whole wait lasts ``analysis_grace`` at most: a call still without data is exported with
    ``post_call_ready: false`` (a later run over the same interval rewrites it complete).

    :param hook: A sync hook.
    :param spec: The export.
    :param found: What the walk found; records and ``ready`` are updated in place.
    :param log: Where progress goes.
    :param now: The wall clock (UTC).
    :param sleep: How to pause.
    """
    grace = timedelta(seconds=spec.analysis_grace)

    def still_waited(call_id: str) -> bool:
        ended = api_instant(found.calls[call_id].get("ended_at"))
        return call_id not in found.ready and ended is not None and now() < ended + grace

    deadline = time.monotonic() + spec.analysis_grace
    pending = sorted(call_id for call_id in found.calls if still_waited(call_id))
    if pending:
        log.info(
            "Waiting up to %.0f s for the post-call data of %d call(s)", spec.analysis_grace, len(pending)
        )
    while pending and (left := deadline - time.monotonic()) > 0:
        sleep(min(spec.poll_interval, left))
        for call_id in pending:
            call = hook.get_call(call_id, timeout=max(1.0, deadline - time.monotonic()))
            found.calls[call_id] = call
            if post_call_data_ready(call):
                found.ready.add(call_id)
        pending = [call_id for call_id in pending if still_waited(call_id)]
    missing = len(found.calls) - len(found.ready)
    if missing:
        log.warning(
            "%d call(s) exported without post-call data (post_call_ready: false); re-run this interval "
            "later to rewrite them complete",
            missing,
        )
