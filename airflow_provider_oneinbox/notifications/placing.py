"""
Placing a notifier's call at most once: the search before the POST, and the cool-down.

Runs on a worker (a task process, the DAG processor, an executor callback), never in a trigger.
It reuses the place-call operator's parts: :func:`~airflow_provider_oneinbox.placed_calls.
search_placed_calls` walks the agent's recent calls (bounded in calls and time) and
:class:`~airflow_provider_oneinbox.ledger.PlacedCallLedger` recovers a create whose answer was lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.placed_calls import (
    IDEMPOTENCY_METADATA_KEY,
    SEARCH_TIME_BUDGET_SECONDS,
    parse_created_at,
    search_placed_calls,
)
from airflow_provider_oneinbox.rules.notify import NOTIFY_RUN_METADATA_KEY, within_cooldown

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

__all__ = ["NotifyOutcome", "place_notification_call"]


@dataclass(frozen=True)
class NotifyOutcome:
    """
    What :func:`place_notification_call` did.

    :param action: ``"placed"``, ``"already_placed"`` (this notification's call exists),
        ``"cooling_down"`` (another call of this DAG run is recent enough), ``"not_placed"``
        (refused, or the search could not rule out an earlier call).
    :param call: The call placed or found (``None`` when none).
    :param reason: Why nothing was placed.
    """

    action: str
    call: dict[str, Any] | None = None
    reason: str = ""


class _KeyView:
    """
    The hook, seen by the search as if each call's key were this notification's or its run's.

    A call carrying ``key`` is shown with ``key``; any other call shows its run key, so one walk
    finds both this notification's call and its DAG run's newest call (the search keeps the newest).
    """

    def __init__(self, hook: OneInboxHook, key: str) -> None:
        self.hook = hook
        self.key = key

    def list_calls_cursor(self, **kwargs: Any) -> dict[str, Any]:
        page = self.hook.list_calls_cursor(**kwargs)
        items = []
        for item in page.get("items") or ():
            if isinstance(item, dict):
                metadata = item.get("metadata")
                metadata = metadata if isinstance(metadata, dict) else {}
                own = metadata.get(IDEMPOTENCY_METADATA_KEY)
                shown = own if own == self.key else metadata.get(NOTIFY_RUN_METADATA_KEY)
                item = {**item, "metadata": {IDEMPOTENCY_METADATA_KEY: shown}}
            items.append(item)
        return {**page, "items": items}


def place_notification_call(
    hook: OneInboxHook,
    arguments: dict[str, Any],
    *,
    key: str,
    run_key: str,
    since: datetime,
    cooldown: timedelta,
    search_limit: int,
    time_budget: float = SEARCH_TIME_BUDGET_SECONDS,
    log: Any = None,
) -> NotifyOutcome:
    """
    Place the notification's call unless it exists, or its DAG run rang within ``cooldown``.

    One bounded walk of the agent's calls since ``since`` (or since the cool-down opened, if that
    is earlier) looks for a call carrying ``key`` and for the newest carrying ``run_key``. A walk
    that stops at a bound rules nothing out: nothing is placed (never ring twice). The POST is
    sent once; if it fails after it may have reached the API, the same search runs again.

    :param hook: The sync hook (a worker's).
    :param arguments: ``create_call`` arguments, already validated; ``metadata`` holds both keys.
    :param key: This notification's idempotency key.
    :param run_key: Its DAG run's key (the cool-down's).
    :param since: The earliest time this notification's call can exist (aware).
    :param cooldown: How long a call of the DAG run silences others (0: no cool-down).
    :param search_limit: At most this many calls are read.
    :param time_budget: At most this many seconds per search.
    :param log: Where to log.
    """
    from airflow_provider_oneinbox.exceptions import OneInboxError
    from airflow_provider_oneinbox.ledger import PlacedCallLedger, may_have_placed
    from airflow_provider_oneinbox.task_errors import AirflowException

    log = log or logging.getLogger(__name__)
    now = datetime.now(UTC)
    opens = min(since, now - cooldown) if cooldown > timedelta(0) else since
    keys = {key, run_key} if cooldown > timedelta(0) else {key}
    found = search_placed_calls(
        _KeyView(hook, key),  # type: ignore[arg-type]
        agent_id=arguments["agent_id"],
        keys=keys,
        since=opens,
        max_calls=search_limit,
        time_budget=time_budget,
    )
    if key in found.calls:
        call = found.calls[key]
        log.info("This notification's call %s exists already (%s): not calling again.", call.get("id"), key)
        return NotifyOutcome("already_placed", call)
    if not found.conclusive:
        reason = (
            f"the search of agent {arguments['agent_id']}'s recent calls stopped because {found.reason}, "
            "so an earlier call of this notification cannot be ruled out"
        )
        return NotifyOutcome("not_placed", reason=reason)
    recent = found.calls.get(run_key)
    if recent is not None and within_cooldown(parse_created_at(recent.get("created_at")), now, cooldown):
        log.info(
            "Call %s of this DAG run was placed at %s, within the %ss cool-down: not calling again.",
            recent.get("id"),
            recent.get("created_at"),
            int(cooldown.total_seconds()),
        )
        return NotifyOutcome("cooling_down", recent)
    failure = ""
    try:
        call = hook.create_call(**arguments, idempotency_key=key)
    except OneInboxError as exc:
        if not may_have_placed(exc):
            return NotifyOutcome("not_placed", reason=f"the API refused the call: {exc}")
        failure = str(exc)
    else:
        if not call.get("id"):
            failure = "the API answered without a call id"
    if failure:
        ledger = PlacedCallLedger(
            hook,
            None,
            key=key,
            agent_id=arguments["agent_id"],
            search_limit=search_limit,
            since=opens,
            log=log,
        )
        try:
            call = ledger.recover_uncertain_create(failure, arguments["to_number"])
        except AirflowException:
            reason = (
                f"placing the call failed after it may have reached the API ({failure}) and a search did "
                "not find it; not retried, so the number is not rung twice"
            )
            return NotifyOutcome("not_placed", reason=reason)
        return NotifyOutcome("placed", call)
    log.info("Placed notification call %s to %s (%s).", call.get("id"), arguments["to_number"], key)
    return NotifyOutcome("placed", call)
