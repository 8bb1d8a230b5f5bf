"""
One run of a call-event watch: load its cursor, follow its agents' feeds (or, on Airflow 3.3's
shared streams, the rounds broadcast to it), fire the calls its cursor says, and save the cursor
under the commit rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_oneinbox import _compat
from airflow_provider_oneinbox.events.feed import Subscription, subscribed
from airflow_provider_oneinbox.events.reads import lists_post_call_data, read_unlisted
from airflow_provider_oneinbox.events.store import cursor_store_for
from airflow_provider_oneinbox.events.targets import NumberTargets
from airflow_provider_oneinbox.events.walk import CallEventWatchError, Round, failure_delay, is_permanent
from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.rules.call_events import (
    CREATED_AT_MARGIN,
    FIRST_START_DEPTH,
    STALE_OPEN_SECONDS,
    CallCursor,
    WatchFilter,
    event_payload,
)

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

log = logging.getLogger(__name__)

#: Seconds between two looks at uncommitted calls while events are pending.
COMMIT_TICK = 0.5


class ApiClock:
    """The API's clock as best known: the wall clock, or later if the API reported later times."""

    def __init__(self) -> None:
        self.skew = 0.0

    def see(self, server_time: float | None) -> None:
        """Take the newest time a round read."""
        if server_time is not None:
            self.skew = max(self.skew, server_time - time.time())

    def now(self) -> float:
        """Now, on the API's clock as best known."""
        return time.time() + self.skew


class WatchSpec(Protocol):
    """What a session reads of its trigger (``OneInboxCallEventTrigger``; not imported: no cycle)."""

    agent_ids: list[str] | None
    phone_number: str | None
    poll_interval: float
    start_lookback: float
    max_pages_per_poll: int
    oneinbox_conn_id: str
    commit_delay: float
    cursor_store: Any

    def cursor_key(self) -> str: ...

    def watch_filter(self, number: str | None = None) -> WatchFilter: ...


class WatchSession:
    """
    The state of one trigger run: cursors by agent, the store, the filters, the targets.

    :param trigger: The trigger.
    """

    def __init__(self, trigger: WatchSpec) -> None:
        self.trigger = trigger
        key = trigger.cursor_key()
        self.store = trigger.cursor_store or cursor_store_for(
            getattr(trigger, "asset_state_store", None), key
        )
        self.cursors: dict[str, CallCursor] = {}
        self.clock = ApiClock()
        self.started = time.time()
        self.watch = trigger.watch_filter()
        self.numbers = NumberTargets(trigger.phone_number) if trigger.phone_number is not None else None
        self.agents: tuple[str, ...] = tuple(trigger.agent_ids or ())
        #: Agents whose list has shown that it carries post-call data (see :mod:`.reads`).
        self.trusted_lists: set[str] = set()

    # -- cursors -----------------------------------------------------------------------------
    async def load(self) -> None:
        """Read the stored cursor (a first start when there is none)."""
        self.cursors = await self.store.load(self.trigger.commit_delay)
        log.info(
            "Call-event watch %s: %s (%s).",
            self.trigger.cursor_key(),
            "resuming its stored cursor" if self.cursors else "no stored cursor, a first start",
            "asset state store" if self.store.durable else "kept in this process's memory only",
        )

    def depth(self, agent_id: str) -> float:
        """How deep the agent's rounds must go for this watch."""
        cursor = self.cursors.get(agent_id)
        if cursor is not None:
            return cursor.depth
        return self.clock.now() - self.trigger.start_lookback - FIRST_START_DEPTH - CREATED_AT_MARGIN

    def take(self, result: Round) -> list[tuple[dict[str, Any], CallCursor]]:
        """
        The events of one round (the calls it fires), each with its cursor: tell the cursor
        :meth:`~.CallCursor.yielded` once the event is yielded (see :meth:`fire`).

        :param result: The round.
        """
        self.clock.see(result.server_time)
        now = self.clock.now()
        cursor = self.cursors.get(result.agent_id)
        if cursor is None:
            # The watch's start, on the API's clock as learnt from this round.
            started = min(now, self.started + self.clock.skew)
            cursor = CallCursor.first_start(started, self.trigger.start_lookback, self.trigger.commit_delay)
            self.cursors[result.agent_id] = cursor
        firing = cursor.observe(result.calls, self.watch, now, covered=result.covered)
        if cursor.abandoned:
            log.warning(
                "%d calls of agent %s never reached a final status within %.0f hours; no longer waited for.",
                cursor.abandoned,
                result.agent_id,
                STALE_OPEN_SECONDS / 3600,
            )
            cursor.abandoned = 0
        return [(event_payload(call, analysed), cursor) for call, analysed in firing]

    async def fire(
        self, result: Round, hook: OneInboxAsyncHook | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """
        Yield the events of one round, marking each call yielded as its event leaves.

        :param result: The round.
        :param hook: For reading calls the list cannot vouch for (see :mod:`.reads`); ``None``: none.
        """
        if hook is not None and result.agent_id not in self.trusted_lists:
            if lists_post_call_data(result):
                self.trusted_lists.add(result.agent_id)
            else:
                result = await read_unlisted(hook, result, self.cursors.get(result.agent_id), self.watch)
        for payload, cursor in self.take(result):
            yield payload
            cursor.yielded(payload["call_id"], time.monotonic())

    def pending(self) -> bool:
        """Whether some fired call is not committed yet."""
        return any(cursor.fired for cursor in self.cursors.values())

    async def save(self) -> None:
        """Commit what the commit rule allows, and store the cursors."""
        at = time.monotonic()
        for cursor in self.cursors.values():
            cursor.commit(at)
        if self.cursors:
            await self.store.save(self.cursors)

    # -- targets -----------------------------------------------------------------------------
    async def resolve(self, hook: OneInboxAsyncHook) -> bool:
        """
        Read the number's routing when due; whether the agents changed. A transient failure keeps
        the last answer (and is raised while there is none); a permanent one ends the watch.
        """
        if self.numbers is None or not self.numbers.due():
            return False
        try:
            resolved = await self.numbers.refresh(hook)
        except CallEventWatchError:
            raise
        except OneInboxError as exc:
            if is_permanent(exc):
                raise CallEventWatchError(
                    f"Reading the watched phone number's routing failed for good: {exc}",
                    status_code=exc.status_code,
                ) from exc
            self.numbers.postpone()
            log.warning("Reading the watched phone number's routing failed (%s); trying again later.", exc)
            if self.numbers.resolved is None:
                raise
            return False
        self.use_routing(resolved.number, resolved.agent_ids)
        return True

    def use_routing(self, number: str | None, agent_ids: tuple[str, ...]) -> None:
        """
        Watch these agents, keeping calls to ``number`` (a phone-number watch).

        :param number: The number, E.164 (never logged).
        :param agent_ids: Its routing agent and fallback agent.
        """
        self.watch = self.trigger.watch_filter(number)
        if agent_ids != self.agents:
            log.info("The watched phone number routes to agents %s.", ", ".join(agent_ids))
        self.agents = agent_ids

    # -- the run() path: this process's feeds ---------------------------------------------------
    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Every event of the watch, forever (ends only by raising a permanent error)."""
        from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

        await self.load()
        trigger = self.trigger
        notify = asyncio.Event()
        async with OneInboxAsyncHook(oneinbox_conn_id=trigger.oneinbox_conn_id, max_retries=0) as hook:
            settings = await hook.get_settings()
            await self._resolve_first(hook)
            stacks: dict[str, contextlib.ExitStack] = {}
            subscriptions: dict[str, Subscription] = {}
            try:
                while True:
                    if await self.resolve(hook) or set(stacks) != set(self.agents):
                        for agent_id in set(stacks) - set(self.agents):
                            stacks.pop(agent_id).close()
                            subscriptions.pop(agent_id)
                        for agent_id in self.agents:
                            if agent_id not in stacks:
                                stack = stacks[agent_id] = contextlib.ExitStack()
                                subscriptions[agent_id] = stack.enter_context(
                                    subscribed(
                                        settings,
                                        agent_id,
                                        trigger.poll_interval,
                                        trigger.max_pages_per_poll,
                                        lambda a=agent_id: self.depth(a),  # type: ignore[misc]
                                        notify,
                                    )
                                )
                    timeout = COMMIT_TICK if self.pending() else max(trigger.poll_interval, COMMIT_TICK)
                    with contextlib.suppress(*_compat.TIMEOUT_ERRORS):
                        async with _compat.timeout(timeout):
                            await notify.wait()
                    notify.clear()
                    for subscription in list(subscriptions.values()):
                        for result in subscription.take():
                            async for payload in self.fire(result, hook):
                                yield payload
                    await self.save()
            finally:
                for stack in stacks.values():
                    stack.close()

    async def _resolve_first(self, hook: OneInboxAsyncHook) -> None:
        """Resolve the number before the first round, waiting out transient failures."""
        failures = 0
        while self.numbers is not None and self.numbers.resolved is None:
            try:
                await self.resolve(hook)
            except CallEventWatchError:
                raise
            except OneInboxError as exc:
                failures += 1
                await asyncio.sleep(failure_delay(failures, self.trigger.poll_interval, exc))


__all__ = ["ApiClock", "WatchSession", "WatchSpec"]
