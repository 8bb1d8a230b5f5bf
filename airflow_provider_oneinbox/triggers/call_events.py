"""
``OneInboxCallEventTrigger``: an event trigger for ``AssetWatcher`` that fires once per finished
(by default: analysed) call of some agents or of a phone number. See ``docs/call-events.md``.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_oneinbox.rules.call_events import (
    DEFAULT_COMMIT_DELAY,
    DIRECTIONS,
    READINESS,
    WatchFilter,
    cursor_key,
)
from airflow_provider_oneinbox.rules.status import OneInboxCallStatus

__all__ = ["OneInboxCallEventTrigger"]

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
#: Most agents one watch reads.
MAX_AGENTS = 20
#: Longest ``start_lookback``: a week.
MAX_START_LOOKBACK = 7 * 86400.0


def _fail(field: str, problem: str, fix: str) -> ValueError:
    return ValueError(f"OneInboxCallEventTrigger: {field} {problem}; {fix}")


def _number(value: Any, field: str, *, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(
            field,
            f"must be a number of seconds, got {value!r}",
            f"pass a number between {low:g} and {high:g}",
        )
    if not low <= value <= high:
        raise _fail(field, f"is {value!r}", f"pass a number between {low:g} and {high:g}")
    return float(value)


def mask_number(value: str) -> str:
    """A phone number as logs and reprs show it (its last two digits); an id as it is."""
    return f"+***{value[-2:]}" if _E164.match(value) else value


class OneInboxCallEventTrigger(BaseEventTrigger):
    """
    Fire one event per finished call of some agents, or of a phone number, that the filters keep.

    Calls are read from ``GET /v1/calls/cursor?agent_id=`` every ``poll_interval`` seconds (one
    read per agent shared by every watch of the same agents in the triggerer). A call fires once
    it is final (``completed``/``failed``) and, with ``ready="analysed"``, its post-call data is
    there, or ``analysis_grace`` seconds passed after it ended (then ``"analysed": false``).
    Event payload: ``{"call_id", "agent_id", "direction", "status", "outcome", "analysed",
    "ended_at", "duration_seconds"}``: no numbers, transcript, summary or recording URL.

    Exactly once per call in steady state; on Airflow 3.3 the cursor is kept in the asset state
    store, so a restart loses no call and may fire again only the calls fired in the last
    ``commit_delay`` seconds before it. On 3.1/3.2 a new triggerer process starts afresh (calls
    ending from its start, minus ``start_lookback``, fire). See ``docs/call-events.md``.

    :param agent_ids: Watch these agents' calls (or ``phone_number``; exactly one of the two).
    :param phone_number: Watch a registered number (E.164 or its id): its inbound routing agent
        and fallback agent, read again every 10 minutes; calls to another number are skipped.
    :param direction: ``"inbound"`` (default), ``"outbound"`` or ``"any"``.
    :param statuses: Final statuses to keep (``"completed"``, ``"failed"``); ``None``: both.
    :param ready: ``"analysed"`` (post-call data present) or ``"ended"``.
    :param poll_interval: Seconds between two reads of an agent's calls.
    :param start_lookback: On a first start (no cursor), also fire calls that ended this many
        seconds before the start.
    :param analysis_grace: Seconds after a call ended after which it fires without post-call data.
    :param max_pages_per_poll: Most pages (100 calls each) one read of an agent goes through.
    :param oneinbox_conn_id: The OneInbox connection.
    """

    #: Seconds after an event was yielded before its call counts as done in the durable cursor
    #: (several triggerer sync rounds: an event still in the triggerer's queue is not lost).
    commit_delay: float = DEFAULT_COMMIT_DELAY
    #: Whether watches share one poll through Airflow 3.3's shared streams (off: each runs
    #: ``run()``, still sharing this process's per-agent feeds).
    share_polls: bool = True

    def __init__(
        self,
        agent_ids: list[str] | None = None,
        phone_number: str | None = None,
        direction: str = "inbound",
        statuses: list[str] | None = None,
        ready: str = "analysed",
        poll_interval: float = 15.0,
        start_lookback: float = 0.0,
        analysis_grace: float = 900.0,
        max_pages_per_poll: int = 10,
        oneinbox_conn_id: str = "oneinbox_default",
    ) -> None:
        super().__init__()
        if (agent_ids is None) == (phone_number is None):
            raise _fail(
                "agent_ids/phone_number", "are both given or both missing", "pass exactly one of them"
            )
        if agent_ids is not None:
            if isinstance(agent_ids, str) or not isinstance(agent_ids, list | tuple) or not agent_ids:
                raise _fail(
                    "agent_ids",
                    f"must be a non-empty list of agent ids, got {agent_ids!r}",
                    'pass e.g. ["agt_support"]',
                )
            if len(agent_ids) > MAX_AGENTS or not all(isinstance(a, str) and a.strip() for a in agent_ids):
                raise _fail(
                    "agent_ids", f"must hold 1 to {MAX_AGENTS} non-empty strings", 'pass e.g. ["agt_support"]'
                )
            agent_ids = list(dict.fromkeys(a.strip() for a in agent_ids))
        if phone_number is not None and (
            not isinstance(phone_number, str)
            or not phone_number.strip()
            or any(c.isspace() for c in phone_number.strip())
        ):
            raise _fail(
                "phone_number", "must be an E.164 number or a phone-number id", 'pass e.g. "+14155550123"'
            )
        if direction not in DIRECTIONS:
            raise _fail("direction", f"is {direction!r}", f"pass one of {', '.join(DIRECTIONS)}")
        if statuses is not None:
            final = sorted(OneInboxCallStatus.terminal_states())
            if (
                isinstance(statuses, str)
                or not isinstance(statuses, list | tuple)
                or not statuses
                or not set(statuses) <= set(final)
            ):
                raise _fail(
                    "statuses",
                    f"is {statuses!r}",
                    f"pass a list of final statuses ({', '.join(final)}) or None",
                )
            statuses = sorted(set(statuses))
        if ready not in READINESS:
            raise _fail("ready", f"is {ready!r}", f"pass one of {', '.join(READINESS)}")
        if (
            isinstance(max_pages_per_poll, bool)
            or not isinstance(max_pages_per_poll, int)
            or not 1 <= max_pages_per_poll <= 100
        ):
            raise _fail(
                "max_pages_per_poll", f"is {max_pages_per_poll!r}", "pass a whole number from 1 to 100"
            )
        if not isinstance(oneinbox_conn_id, str) or not oneinbox_conn_id.strip():
            raise _fail("oneinbox_conn_id", "is empty", "pass the id of a OneInbox connection")
        self.agent_ids = agent_ids
        self.phone_number = phone_number.strip() if phone_number is not None else None
        self.direction = direction
        self.statuses = statuses
        self.ready = ready
        self.poll_interval = _number(poll_interval, "poll_interval", low=0.01, high=86400)
        self.start_lookback = _number(start_lookback, "start_lookback", low=0, high=MAX_START_LOOKBACK)
        self.analysis_grace = _number(analysis_grace, "analysis_grace", low=0, high=7 * 86400)
        self.max_pages_per_poll = max_pages_per_poll
        self.oneinbox_conn_id = oneinbox_conn_id
        #: Where the cursor is kept; ``None``: chosen in ``run()`` (tests may set one).
        self.cursor_store: Any = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and the constructor's arguments (plain data, no secret)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "agent_ids": self.agent_ids,
                "phone_number": self.phone_number,
                "direction": self.direction,
                "statuses": self.statuses,
                "ready": self.ready,
                "poll_interval": self.poll_interval,
                "start_lookback": self.start_lookback,
                "analysis_grace": self.analysis_grace,
                "max_pages_per_poll": self.max_pages_per_poll,
                "oneinbox_conn_id": self.oneinbox_conn_id,
            },
        )

    def __repr__(self) -> str:
        classpath, kwargs = self.serialize()
        if kwargs["phone_number"] is not None:
            kwargs["phone_number"] = mask_number(kwargs["phone_number"])
        return self.repr(classpath, kwargs)

    @property
    def targets(self) -> list[str]:
        """What the cursor key is derived from: the agent ids, or the number."""
        return list(self.agent_ids) if self.agent_ids is not None else [f"number:{self.phone_number}"]

    def cursor_key(self) -> str:
        """The asset state store key of this watch's cursor (not derived from ``poll_interval``)."""
        return cursor_key(self.targets, self.direction, self.statuses, self.ready)

    def watch_filter(self, number: str | None = None) -> WatchFilter:
        """
        The watch's filters.

        :param number: For a phone-number watch, the number (E.164) once resolved.
        """
        return WatchFilter(
            direction=self.direction,
            statuses=frozenset(self.statuses) if self.statuses is not None else None,
            ready=self.ready,
            analysis_grace=self.analysis_grace,
            number=number,
        )

    def shared_stream_key(self) -> tuple[str, str, str, float] | None:
        """
        Airflow 3.3: watches of the same connection, targets and poll interval share one poll
        (``None`` when :attr:`share_polls` is off: each runs its own ``run()``).
        """
        from airflow_provider_oneinbox.events.shared import stream_key

        return stream_key(self) if self.share_polls else None

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """Airflow 3.3: the group's one poll, broadcasting each agent's round (plain data)."""
        from airflow_provider_oneinbox.events.shared import open_stream

        spec = cls(**kwargs)
        async for raw in open_stream(spec, analysis_grace=max(spec.analysis_grace, 3600.0)):
            yield raw

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """Airflow 3.3: this watch's events from the shared rounds (its filters, its cursor)."""
        from airflow_provider_oneinbox.events.session import WatchSession
        from airflow_provider_oneinbox.events.shared import shared_events
        from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

        session = WatchSession(self)
        await session.load()
        async with OneInboxAsyncHook(oneinbox_conn_id=self.oneinbox_conn_id, max_retries=0) as hook:
            async for payload in shared_events(session, shared_stream, hook):
                yield TriggerEvent(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Read the watched agents' calls through this process's shared feeds, forever."""
        from airflow_provider_oneinbox.events.session import WatchSession

        session = WatchSession(self)
        async for payload in session.events():
            yield TriggerEvent(payload)
