"""
Airflow 3.3 shared streams for call-event watches: every watch of the same connection, targets
and poll interval in a triggerer shares one poll (``shared_stream_key``). The stream
(:func:`open_stream`) reads each agent's list once per interval, as deep as its own tracker of
still-open calls needs, and broadcasts each :class:`~.walk.Round`; each watch
(:meth:`.WatchSession.shared_events`) applies its own filters and its own durable cursor.

A watch whose cursor needs older calls than a round covers (it joined late, after a restart with
an old floor, or waits longer for post-call data than the stream) walks that agent's list itself,
bounded by its page budget, at most once per poll interval: late subscribers miss earlier
broadcasts, never calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox.events.session import COMMIT_TICK, ApiClock, WatchSession, WatchSpec
from airflow_provider_oneinbox.events.targets import NumberTargets
from airflow_provider_oneinbox.events.walk import (
    CallEventWatchError,
    Round,
    Walker,
    failure_delay,
    is_permanent,
)
from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.rules.call_events import FIRST_START_DEPTH, CallCursor, WatchFilter

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

log = logging.getLogger(__name__)

STREAM_TAG = "oneinbox-call-events"


def stream_key(spec: WatchSpec) -> tuple[str, str, str, float]:
    """
    The shared stream key: connection, targets and poll interval (not the filters: each watch
    applies its own). The targets are hashed: Airflow logs the key, and a target may be a number.

    :param spec: The trigger.
    """
    targets = sorted(spec.agent_ids) if spec.agent_ids is not None else [f"number:{spec.phone_number}"]
    digest = hashlib.sha256(json.dumps(targets).encode()).hexdigest()[:20]
    return (STREAM_TAG, spec.oneinbox_conn_id, digest, float(spec.poll_interval))


def _raise_if_permanent(exc: OneInboxError, what: str) -> None:
    if is_permanent(exc):
        raise CallEventWatchError(f"{what} failed for good: {exc}", status_code=exc.status_code) from exc


async def open_stream(spec: WatchSpec, analysis_grace: float) -> AsyncIterator[dict[str, Any]]:
    """
    The shared poll: one raw round per agent per interval, forever (a permanent error ends it).

    :param spec: A trigger built from the group's first kwargs.
    :param analysis_grace: How long the stream keeps reading down to an ended call that has no
        post-call data yet.
    """
    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

    clock = ApiClock()
    numbers = NumberTargets(spec.phone_number) if spec.phone_number is not None else None
    agents: tuple[str, ...] = tuple(spec.agent_ids or ())
    number: str | None = None
    trackers: dict[str, CallCursor] = {}
    walkers: dict[str, Walker] = {}
    tracked = WatchFilter(direction="any", ready="analysed", analysis_grace=analysis_grace)
    failures = 0
    async with OneInboxAsyncHook(oneinbox_conn_id=spec.oneinbox_conn_id, max_retries=0) as hook:
        while True:
            started = time.monotonic()
            delay = spec.poll_interval
            try:
                if numbers is not None and numbers.due():
                    try:
                        resolved = await numbers.refresh(hook)
                        number, agents = resolved.number, resolved.agent_ids
                    except OneInboxError:
                        numbers.postpone()
                        if numbers.resolved is None:
                            raise
                for agent_id in agents:
                    tracker = trackers.get(agent_id)
                    if tracker is None:
                        floor = clock.now() - spec.start_lookback - FIRST_START_DEPTH
                        tracker = trackers[agent_id] = CallCursor(floor, -math.inf, commit_delay=0.0)
                    walker = walkers.setdefault(agent_id, Walker(agent_id, spec.max_pages_per_poll))
                    for result in await walker.rounds(hook, tracker.depth):
                        clock.see(result.server_time)
                        _track(tracker, result, tracked, clock.now())
                        yield {"number": number, "agents": list(agents), **result.as_raw()}
                failures = 0
            except CallEventWatchError:
                raise
            except OneInboxError as exc:
                _raise_if_permanent(exc, "Reading the watched calls")
                failures += 1
                delay = failure_delay(failures, spec.poll_interval, exc)
                log.warning(
                    "Shared call-event poll failed (%s, %d in a row); next try in %.1fs.",
                    exc,
                    failures,
                    delay,
                )
                started = time.monotonic()
            await asyncio.sleep(max(0.0, started + delay - time.monotonic()))


async def _ticking(stream: AsyncIterator[Any], tick: float) -> AsyncIterator[Any]:
    """The stream's items, and ``None`` whenever ``tick`` seconds pass without one."""
    pending: asyncio.Future[Any] = asyncio.ensure_future(anext(stream))
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=tick)
            if not done:
                yield None
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(anext(stream))
            yield item
    finally:
        pending.cancel()


def _track(tracker: CallCursor, result: Round, tracked: WatchFilter, now: float) -> None:
    """Move the stream's own floor: it reads down to its oldest call still open or unanalysed."""
    for call, _analysed in tracker.observe(
        result.calls, tracked, now, reached=result.covered_to <= tracker.depth
    ):
        tracker.yielded(str(call["id"]), 0.0)
    tracker.commit(math.inf)


async def shared_events(
    session: WatchSession, stream: AsyncIterator[Any], hook: OneInboxAsyncHook
) -> AsyncIterator[dict[str, Any]]:
    """
    One watch's events from the broadcast rounds: its own filters and cursor, and its own bounded
    walk where a round does not reach as deep as its cursor needs.

    :param session: The watch's session (cursor loaded).
    :param stream: The raw rounds.
    :param hook: A hook (retries off) for the watch's own walks.
    """
    spec = session.trigger
    next_walk: dict[str, float] = {}
    walkers: dict[str, Walker] = {}
    failures: dict[str, int] = {}
    async for raw in _ticking(stream, COMMIT_TICK):
        if raw is None:  # no round for a while: commit what the commit rule allows by now
            if session.pending():
                await session.save()
            continue
        if not isinstance(raw, dict) or not isinstance(raw.get("agent_id"), str):
            continue
        if session.numbers is not None:
            session.use_routing(raw.get("number"), tuple(raw.get("agents") or ()))
        result = Round.from_raw(raw)
        async for payload in session.fire(result, hook):
            yield payload
        agent_id = result.agent_id
        cursor = session.cursors[agent_id]
        if not cursor.caught_up and time.monotonic() >= next_walk.get(agent_id, 0.0):
            walker = walkers.setdefault(agent_id, Walker(agent_id, spec.max_pages_per_poll))
            try:
                own = await walker.rounds(hook, cursor.depth)
            except OneInboxError as exc:
                _raise_if_permanent(exc, f"Reading the calls of agent {agent_id}")
                failures[agent_id] = failures.get(agent_id, 0) + 1
                delay = failure_delay(failures[agent_id], spec.poll_interval, exc)
                next_walk[agent_id] = time.monotonic() + delay
                log.warning(
                    "Catching up on the calls of agent %s failed (%s); next try in %.1fs.",
                    agent_id,
                    exc,
                    delay,
                )
            else:
                failures.pop(agent_id, None)
                next_walk[agent_id] = time.monotonic() + spec.poll_interval
                for caught in own:
                    async for payload in session.fire(caught, hook):
                        yield payload
        await session.save()
