"""
Consuming ``OneInboxCallEventTrigger``'s asset events in a DAG scheduled on the asset.

Airflow turns each event the trigger yields into one asset event per watched asset, with
``extra={"from_trigger": True, "payload": {"call_id": ..., ...}}``, and may hand several of them
to **one** DAG run (events close together are consumed together). So a consumer handles every
event in ``triggering_asset_events``, not just the first: :func:`call_ids` gives the call ids of
all of them, in order, each once.

The trigger fires each call once in steady state, but an abrupt stop of the triggerer (SIGKILL,
or SIGTERM within its last sync round) can make it fire a call again after the restart (only calls
whose events were yielded in the last few seconds before the stop; see ``docs/call-events.md``).
Make the handling idempotent on the call id (an upsert) and, on Airflow 3.3 and later, let
:func:`calls_to_handle` skip the ids already handled, recorded by :func:`record_handled` in the
asset state store of the consumer task's inlet:

.. code-block:: python

    @task(inlets=[calls_asset])  # the inlet gives the task the asset's state store
    def load(triggering_asset_events=None, **context):
        for call_id in calls_to_handle(context, calls_asset):
            ...  # read the call, upsert it
            record_handled(context, [call_id], calls_asset)

The record is a bounded list of the most recently handled ids (:data:`DEFAULT_MAX_HANDLED`,
oldest dropped first): enough, since a repeated event follows its first within minutes. Its key is
per consumer task (:func:`handled_key`), so two DAGs consuming one asset each handle every call.
Run the consumer DAG with ``max_active_runs=1``: two runs at once could both read the record
before either writes it. On Airflow 3.1/3.2 (no asset state store) nothing is skipped or
recorded: :func:`calls_to_handle` returns every id, and the idempotent handling is what keeps the
result right.

Asset events not from the trigger (a manual asset event, another producer's) are skipped: only
events whose ``extra["payload"]`` holds a non-empty string ``call_id`` count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

__all__ = [
    "DEFAULT_MAX_HANDLED",
    "HANDLED_KEY_PREFIX",
    "HandledCalls",
    "call_events",
    "call_ids",
    "calls_to_handle",
    "event_payload",
    "handled_key",
    "record_handled",
]

#: How many handled call ids the record keeps (about 40 bytes each: well under the asset state
#: store's 64 KB ``[state_store] max_value_storage_bytes``).
DEFAULT_MAX_HANDLED = 1000
#: The asset state store key of a consumer's record is this, ``:``, ``<dag_id>.<task_id>``.
HANDLED_KEY_PREFIX = "oneinbox.handled_call_ids"


def _field(obj: Any, name: str) -> Any:
    """An attribute of an Airflow asset event, or the key of its dict form."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def event_payload(event: Any) -> dict[str, Any] | None:
    """
    The trigger's payload of one asset event, or ``None`` for an event not from the trigger.

    :param event: An asset event from ``triggering_asset_events`` (or its dict form, with ``extra``).
    """
    extra = _field(event, "extra")
    payload = extra.get("payload") if isinstance(extra, Mapping) else None
    if not isinstance(payload, Mapping):
        return None
    call_id = payload.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        return None
    return dict(payload)


def _events_of(triggering_asset_events: Any, asset: Any | None) -> list[Any]:
    """The events of ``asset``, or of every asset (and alias), oldest first."""
    if triggering_asset_events is None:
        return []
    events: list[Any] = []
    if asset is not None:
        try:
            events = list(triggering_asset_events[asset])
        except KeyError:
            return []
    else:
        # An event is listed under its asset and under each alias it came through: the dedup by
        # call id of the callers takes care of that.
        for key in triggering_asset_events:
            events.extend(triggering_asset_events[key])
    return sorted(events, key=_timestamp_key)  # stable: events without a time keep their order


def _timestamp_key(event: Any) -> float:
    stamp = _field(event, "timestamp")
    return stamp.timestamp() if isinstance(stamp, datetime) else 0.0


def call_events(triggering_asset_events: Any, asset: Any | None = None) -> list[dict[str, Any]]:
    """
    The trigger's payloads in the DAG run's triggering asset events, oldest first, one per call id
    (its first event); events not from the trigger are skipped.

    :param triggering_asset_events: The task context's ``triggering_asset_events`` (a mapping of
        asset to its events); ``None`` (a run not triggered by assets) gives ``[]``.
    :param asset: Only this asset's events (an ``Asset``); ``None``: every asset's.
    """
    payloads: list[dict[str, Any]] = []
    seen: set[str] = set()
    for event in _events_of(triggering_asset_events, asset):
        payload = event_payload(event)
        if payload is not None and payload["call_id"] not in seen:
            seen.add(payload["call_id"])
            payloads.append(payload)
    return payloads


def call_ids(triggering_asset_events: Any, asset: Any | None = None) -> list[str]:
    """
    The call ids of the DAG run's triggering asset events, oldest first, each once.

    :param triggering_asset_events: The task context's ``triggering_asset_events``.
    :param asset: Only this asset's events; ``None``: every asset's.
    """
    return [payload["call_id"] for payload in call_events(triggering_asset_events, asset)]


def handled_key(dag_id: str, task_id: str) -> str:
    """
    The asset state store key of the record of one consumer task.

    :param dag_id: The consumer's DAG id.
    :param task_id: The consumer's task id.
    """
    return f"{HANDLED_KEY_PREFIX}:{dag_id}.{task_id}"


class HandledCalls:
    """
    The bounded record of the call ids one consumer task handled, in an asset state store.

    :param accessor: An asset state store accessor (``context["asset_state_store"][asset]``): any
        object with ``get(key, default)`` and ``set(key, value)``.
    :param key: The key of the record (see :func:`handled_key`).
    :param max_ids: How many ids to keep; the oldest go first. At least 1.
    """

    def __init__(self, accessor: Any, key: str, max_ids: int = DEFAULT_MAX_HANDLED) -> None:
        if not isinstance(max_ids, int) or isinstance(max_ids, bool) or max_ids < 1:
            raise ValueError(f"max_ids must be a positive integer (got {max_ids!r}); e.g. 1000")
        self.accessor, self.key, self.max_ids = accessor, key, max_ids

    def load(self) -> list[str]:
        """The recorded ids, oldest first (an unreadable record reads as empty)."""
        stored = self.accessor.get(self.key, None)
        ids = stored.get("ids") if isinstance(stored, Mapping) else None
        if not isinstance(ids, list):
            return []
        return [item for item in ids if isinstance(item, str)]

    def unhandled(self, ids: Iterable[str]) -> list[str]:
        """
        ``ids`` without the recorded ones, in their order.

        :param ids: Call ids, e.g. from :func:`call_ids`.
        """
        done = set(self.load())
        return [call_id for call_id in ids if call_id not in done]

    def record(self, ids: Iterable[str]) -> None:
        """
        Add ``ids`` to the record (read, append the new ones, keep the newest ``max_ids``, write).

        :param ids: Call ids just handled.
        """
        new = list(dict.fromkeys(ids))
        if not new:
            return
        kept = [call_id for call_id in self.load() if call_id not in set(new)] + new
        self.accessor.set(self.key, {"ids": kept[-self.max_ids :]})


def _accessor(context: Mapping[str, Any], asset: Any | None) -> Any | None:
    """The asset state store accessor of ``asset`` (or of the task's only asset); ``None`` before 3.3."""
    store = context.get("asset_state_store")
    if store is None:
        return None
    return store if asset is None else store[asset]


def _handled(
    context: Mapping[str, Any], asset: Any | None, key: str | None, max_ids: int
) -> HandledCalls | None:
    accessor = _accessor(context, asset)
    if accessor is None:
        return None
    if key is None:
        ti = context.get("ti") or context.get("task_instance")
        dag_id, task_id = _field(ti, "dag_id"), _field(ti, "task_id")
        if not dag_id or not task_id:
            raise ValueError("The context has no task instance to name the record by: pass key=")
        key = handled_key(str(dag_id), str(task_id))
    return HandledCalls(accessor, key, max_ids)


def calls_to_handle(
    context: Mapping[str, Any],
    asset: Any | None = None,
    *,
    skip_handled: bool = True,
    key: str | None = None,
    max_ids: int = DEFAULT_MAX_HANDLED,
) -> list[str]:
    """
    The call ids of the run's triggering asset events, oldest first, each once; on Airflow 3.3+
    without those :func:`record_handled` recorded for this consumer task.

    :param context: The task's context (``**context`` of a ``@task``, or ``get_current_context()``).
    :param asset: The asset whose events to read and whose state store holds the record; ``None``:
        every asset's events, and the task's only inlet's store. The task needs the asset among
        its ``inlets`` for the store to be there.
    :param skip_handled: Whether to skip ids already recorded (on Airflow without an asset state
        store, or a task without an asset inlet, nothing is skipped).
    :param key: The record's key; default :func:`handled_key` of this task.
    :param max_ids: The record's bound (see :class:`HandledCalls`).
    """
    ids = call_ids(context.get("triggering_asset_events"), asset)
    if not skip_handled or not ids:
        return ids
    handled = _handled(context, asset, key, max_ids)
    return ids if handled is None else handled.unhandled(ids)


def record_handled(
    context: Mapping[str, Any],
    ids: Sequence[str],
    asset: Any | None = None,
    *,
    key: str | None = None,
    max_ids: int = DEFAULT_MAX_HANDLED,
) -> bool:
    """
    Record ``ids`` as handled by this consumer task; whether there was a store to record them in.

    :param context: The task's context.
    :param ids: The call ids just handled (record each right after handling it, so a retry after
        a crash redoes only the unrecorded ones).
    :param asset: As for :func:`calls_to_handle`.
    :param key: As for :func:`calls_to_handle`.
    :param max_ids: As for :func:`calls_to_handle`.
    """
    handled = _handled(context, asset, key, max_ids)
    if handled is None:
        return False
    handled.record(ids)
    return True
