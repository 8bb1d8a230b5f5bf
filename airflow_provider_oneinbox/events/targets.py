"""
The agents a watch reads: the given agent ids, or a phone number's inbound routing agent and
fallback agent (``GET /v1/phone-numbers``, then ``GET /v1/phone-numbers/{id}/inbound-routing``;
by default a number routes to its own ``agent_id``), read again every :data:`RESOLVE_EVERY` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox.events.walk import CallEventWatchError
from airflow_provider_oneinbox.exceptions import OneInboxNotFoundError

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

#: Seconds between two readings of a number's routing.
RESOLVE_EVERY = 600.0


@dataclass(frozen=True)
class Resolved:
    """
    A phone number's watch targets.

    :param number_id: The number's id.
    :param number: The number, E.164 (kept for the filter; never logged).
    :param agent_ids: The routing agent, then the fallback agent (each once, missing ones left out).
    """

    number_id: str
    number: str | None
    agent_ids: tuple[str, ...]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def resolve_number(hook: OneInboxAsyncHook, phone_number: str) -> Resolved:
    """
    The agents answering ``phone_number`` (E.164 or the number's id).

    :param hook: An async hook.
    :param phone_number: The number as the watch was given it.
    :raises CallEventWatchError: The number is not registered, or nobody answers it.
    """
    numbers = await hook.list_phone_numbers()
    record = next(
        (n for n in numbers if isinstance(n, dict) and phone_number in (n.get("id"), n.get("phone_number"))),
        None,
    )
    if record is None or _text(record.get("id")) is None:
        raise CallEventWatchError(
            "The watched phone number is not registered with OneInbox (GET /v1/phone-numbers does not "
            "list it): pass a registered number (E.164) or its id as phone_number"
        )
    number_id = str(record["id"])
    try:
        routing = await hook.get_inbound_routing(number_id)
    except OneInboxNotFoundError:
        routing = {}
    fallback = routing.get("fallback") if isinstance(routing.get("fallback"), dict) else {}
    agents = [
        _text(routing.get("agent_id")) or _text(record.get("agent_id")),
        _text((fallback or {}).get("agent_id")),
    ]
    agent_ids = tuple(dict.fromkeys(a for a in agents if a is not None))
    if not agent_ids:
        raise CallEventWatchError(
            f"Phone number {number_id} has no agent and no fallback agent: set its inbound routing "
            "(POST /v1/phone-numbers/{id}/inbound-routing) or assign it an agent"
        )
    return Resolved(number_id, _text(record.get("phone_number")), agent_ids)


class NumberTargets:
    """
    A phone number's agents, re-read every :data:`RESOLVE_EVERY` seconds; the last good answer
    stands while a re-reading fails transiently.

    :param phone_number: E.164 or the number's id.
    :param every: Seconds between readings.
    """

    def __init__(self, phone_number: str, every: float = RESOLVE_EVERY) -> None:
        self.phone_number = phone_number
        self.every = every
        self.resolved: Resolved | None = None
        self._at = 0.0

    def due(self) -> bool:
        """Whether the routing should be read again."""
        return self.resolved is None or time.monotonic() - self._at >= self.every

    async def refresh(self, hook: OneInboxAsyncHook) -> Resolved:
        """Read the routing (errors propagate; the caller keeps the last answer on a transient one)."""
        self.resolved = await resolve_number(hook, self.phone_number)
        self._at = time.monotonic()
        return self.resolved

    def postpone(self) -> None:
        """A reading failed transiently: keep the last answer and try again after the interval."""
        self._at = time.monotonic()
