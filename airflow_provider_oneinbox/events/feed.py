"""
The provider's own sharing of call-list polls (Airflow 3.1/3.2, or 3.3 with shared streams not
used): one :class:`AgentFeed` per event loop, connection, agent, poll interval and page budget
reads the agent's list once per interval and hands every subscribed watch the same
:class:`~airflow_provider_oneinbox.events.walk.Round` s. A round goes as deep as the deepest
subscriber needs (its cursor's floor minus the margin), at most ``max_pages`` pages (a deeper
backlog is read over several rounds: :class:`~airflow_provider_oneinbox.events.walk.Walker`).

A transient failure (429, 5xx, timeout, malformed answer) is waited out with
:func:`~airflow_provider_oneinbox.rules.backoff.backoff_delay` (honouring ``Retry-After``); the
watches hear nothing meanwhile and never end for it. A permanent one (401, 403, 404) is handed to
every subscriber, which ends its trigger with :class:`~.walk.CallEventWatchError`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from airflow_provider_oneinbox.events.walk import (
    CallEventWatchError,
    Round,
    Walker,
    failure_delay,
    is_permanent,
)
from airflow_provider_oneinbox.exceptions import OneInboxError

log = logging.getLogger(__name__)

_Key = tuple[Any, str, float, int]
_FEEDS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_Key, AgentFeed]] = (
    weakref.WeakKeyDictionary()
)


#: Rounds a subscription holds that its watch has not taken yet (the oldest are dropped: a later
#: round from the top shows the same calls again).
MAX_WAITING_ROUNDS = 8


class Subscription:
    """
    One watch's place at a feed: the rounds not taken yet, or the error that ended the feed.

    :param feed: The feed.
    :param depth: Returns how deep (``created_at``) the watch needs the next round to go.
    :param notify: Set on every delivery (a watch of several agents waits on one event).
    """

    def __init__(self, feed: AgentFeed, depth: Callable[[], float], notify: asyncio.Event) -> None:
        self.feed = feed
        self.depth = depth
        self.notify = notify
        self.waiting: collections.deque[Round] = collections.deque(maxlen=MAX_WAITING_ROUNDS)
        self.error: CallEventWatchError | None = None

    def deliver(self, item: Round | CallEventWatchError) -> None:
        """Hand over a round, or the feed's permanent error."""
        if isinstance(item, Round):
            self.waiting.append(item)
        else:
            self.error = item
        self.notify.set()

    def take(self) -> list[Round]:
        """The rounds not taken yet, oldest first; raises the feed's permanent error."""
        if self.error is not None:
            raise self.error
        rounds = list(self.waiting)
        self.waiting.clear()
        return rounds


class AgentFeed:
    """
    Reads one agent's calls every ``poll_interval`` seconds for every subscribed watch.

    :param conn_id: The OneInbox connection.
    :param agent_id: The agent.
    :param poll_interval: Seconds between rounds.
    :param max_pages: Most pages a round reads.
    :param key: Its key in the per-loop registry.
    """

    def __init__(self, conn_id: str, agent_id: str, poll_interval: float, max_pages: int, key: _Key) -> None:
        self.conn_id = conn_id
        self.agent_id = agent_id
        self.poll_interval = poll_interval
        self.max_pages = max_pages
        self.subscriptions: dict[Subscription, None] = {}
        self.rounds = 0
        self._key = key
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(conn_id={self.conn_id!r}, agent_id={self.agent_id!r}, "
            f"poll_interval={self.poll_interval:g}, watches={len(self.subscriptions)})"
        )

    def join(self, depth: Callable[[], float], notify: asyncio.Event) -> Subscription:
        """Subscribe a watch; the first one starts the rounds (the first round at once)."""
        subscription = Subscription(self, depth, notify)
        self.subscriptions[subscription] = None
        if self._task is None or self._task.done():  # a feed that failed tries again for a newcomer
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"OneInbox call feed for agent {self.agent_id}"
            )
        return subscription

    def leave(self, subscription: Subscription) -> None:
        """Unsubscribe; the last one stops the rounds."""
        self.subscriptions.pop(subscription, None)
        if self.subscriptions:
            return
        feeds = _FEEDS.get(asyncio.get_running_loop(), {})
        if feeds.get(self._key) is self:
            del feeds[self._key]
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

        failures = 0
        walker = Walker(self.agent_id, self.max_pages)
        try:
            async with OneInboxAsyncHook(oneinbox_conn_id=self.conn_id, max_retries=0) as hook:
                while self.subscriptions:
                    started = time.monotonic()
                    depth = min(subscription.depth() for subscription in self.subscriptions)
                    try:
                        results = await walker.rounds(hook, depth)
                    except OneInboxError as exc:
                        if is_permanent(exc):
                            self._fail(exc)
                            return
                        failures += 1
                        delay = failure_delay(failures, self.poll_interval, exc)
                        log.warning(
                            "Listing the calls of agent %s failed (%s, %d in a row); next try in %.1fs.",
                            self.agent_id,
                            exc,
                            failures,
                            delay,
                        )
                        await asyncio.sleep(delay)
                        continue
                    failures = 0
                    self.rounds += 1
                    for result in results:
                        for subscription in list(self.subscriptions):
                            subscription.deliver(result)
                    await asyncio.sleep(max(0.0, started + self.poll_interval - time.monotonic()))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # e.g. the connection cannot be read
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        error = CallEventWatchError(
            f"Watching the calls of agent {self.agent_id} failed for good: {exc}",
            status_code=getattr(exc, "status_code", None),
        )
        for subscription in list(self.subscriptions):
            subscription.deliver(error)


@contextlib.contextmanager
def subscribed(
    settings: Any,
    agent_id: str,
    poll_interval: float,
    max_pages: int,
    depth: Callable[[], float],
    notify: asyncio.Event,
) -> Iterator[Subscription]:
    """
    Subscribe to this loop's feed for the agent (starting one if needed) for the block.

    :param settings: The connection settings (feeds never mix connections).
    :param agent_id: The agent.
    :param poll_interval: Seconds between rounds (feeds never mix intervals).
    :param max_pages: Most pages a round reads.
    :param depth: Returns how deep the watch needs rounds to go.
    :param notify: Set on every delivery.
    """
    key: _Key = (settings, agent_id, poll_interval, max_pages)
    feeds = _FEEDS.setdefault(asyncio.get_running_loop(), {})
    feed = feeds.get(key)
    if feed is None:
        feed = feeds[key] = AgentFeed(settings.conn_id, agent_id, poll_interval, max_pages, key)
    subscription = feed.join(depth, notify)
    try:
        yield subscription
    finally:
        feed.leave(subscription)


def active_feeds() -> list[AgentFeed]:
    """The feeds of the running loop (for tests)."""
    return list(_FEEDS.get(asyncio.get_running_loop(), {}).values())
