"""
The campaign's trigger: watches a campaign's live calls through list reads and wakes its worker.

Design: ``docs/campaigns.md``. It never creates a call (``POST /v1/calls`` is the worker's alone)
and carries no state the worker needs: its kwargs are the agent, the ids of the live calls and
when to wake at the latest; its one event says why it fired (``"ended"`` with the ids seen ended,
or ``"wake"``). The worker rebuilds everything from the ledger on resume, so a lost or repeated
event costs a resume, never a call.

Work in progress (issue 12): it walks the agent's calls itself; sharing the walk with
:mod:`~airflow_provider_oneinbox.triggers.shared_poller` (one walk per agent per triggerer) and
hanging up live calls from ``on_kill`` on 3.3 are still to do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.rules.backoff import backoff_delay

__all__ = ["MAX_WALK_PAGES", "OneInboxCampaignTrigger"]

#: Pages of 100 calls read at most per walk of the agent's calls.
MAX_WALK_PAGES = 100
_ENDED = ("completed", "failed")


class OneInboxCampaignTrigger(BaseTrigger):
    """
    Fire when one of ``call_ids`` has ended (a slot frees, a redial may fall due), or at ``wake_at``.

    :param agent_id: The campaign's agent (its calls are listed, newest first).
    :param call_ids: The campaign's live calls.
    :param wake_at: ISO 8601 time to fire at the latest (the next pacing slot, calling window,
        redial or quota reset the worker computed); ``None``: only when a call ends.
    :param oneinbox_conn_id: The connection.
    :param poll_interval: Seconds between walks.
    :param analysis_grace_period: Seconds an ended call's outcome is awaited (a redial depends on
        it) before the call counts as ended without one, as the worker does.
    """

    def __init__(
        self,
        agent_id: str,
        call_ids: list[str],
        wake_at: str | None,
        oneinbox_conn_id: str = "oneinbox_default",
        poll_interval: float = 10.0,
        analysis_grace_period: float = 60.0,
    ) -> None:
        super().__init__()
        self.agent_id = agent_id
        self.call_ids = [str(call_id) for call_id in call_ids]
        self.wake_at = wake_at
        self.oneinbox_conn_id = oneinbox_conn_id
        self.poll_interval = float(poll_interval)
        self.analysis_grace_period = float(analysis_grace_period)
        self._seen_ended: dict[str, float] = {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and the plain keyword arguments that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "agent_id": self.agent_id,
                "call_ids": self.call_ids,
                "wake_at": self.wake_at,
                "oneinbox_conn_id": self.oneinbox_conn_id,
                "poll_interval": self.poll_interval,
                "analysis_grace_period": self.analysis_grace_period,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Walk the agent's calls every ``poll_interval`` until a live call ends or ``wake_at``: one event."""
        from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

        wake = datetime.fromisoformat(self.wake_at) if self.wake_at else None
        failures = 0
        async with OneInboxAsyncHook(oneinbox_conn_id=self.oneinbox_conn_id, max_retries=0) as hook:
            while True:
                if wake is not None and datetime.now(UTC) >= wake:
                    yield TriggerEvent({"reason": "wake", "ended": []})
                    return
                delay = self.poll_interval
                if self.call_ids:
                    try:
                        ended = await self._ended(hook)
                        failures = 0
                    except OneInboxError as exc:
                        failures += 1
                        delay = backoff_delay(failures, base=self.poll_interval, cap=300.0)
                        self.log.warning("Listing agent %s's calls failed: %s", self.agent_id, exc)
                        ended = []
                    if ended:
                        yield TriggerEvent({"reason": "ended", "ended": ended})
                        return
                if wake is not None:
                    delay = min(delay, max((wake - datetime.now(UTC)).total_seconds(), 0.0))
                await asyncio.sleep(delay)

    async def _ended(self, hook: Any) -> list[str]:
        """The watched calls the list shows ended; stops as soon as every watched call was seen."""
        from airflow_provider_oneinbox.hooks.responses import next_cursor

        wanted, ended = set(self.call_ids), []
        cursor: str | None = None
        for _ in range(MAX_WALK_PAGES):
            page = await hook.list_calls_cursor(agent_id=self.agent_id, limit=100, cursor=cursor)
            for call in page.get("items") or []:
                call_id = str(call.get("id"))
                if call_id in wanted:
                    wanted.discard(call_id)
                    if self._settled(call_id, call):
                        ended.append(call_id)
            cursor = next_cursor(page)
            if not wanted or cursor is None:
                break
        return ended

    def _settled(self, call_id: str, call: dict[str, Any]) -> bool:
        from airflow_provider_oneinbox.rules.results import post_call_data_ready

        status = call.get("status")
        if status not in _ENDED:
            return False
        first = self._seen_ended.setdefault(call_id, time.monotonic())
        return (
            status == "failed"
            or post_call_data_ready(call)
            or time.monotonic() - first >= self.analysis_grace_period
        )
