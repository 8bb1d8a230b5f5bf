"""
The consumer helpers of ``events/consume.py`` on Airflow's own triggering-asset-event objects
(``TriggeringAssetEventsAccessor`` built from ``AssetEventDagRunReferenceResult``s, as a task's
context holds them), and the bounded handled-ids record on a store with the accessor's API.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.events.consume import (
    HandledCalls,
    call_events,
    call_ids,
    calls_to_handle,
    event_payload,
    handled_key,
    record_handled,
)

CALLS = Asset("oneinbox_inbound_calls")
OTHER = Asset("oneinbox_other_calls")
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _event(
    asset: Asset, seconds: float, extra: dict[str, Any], aliases: tuple[str, ...] = ()
) -> AssetEventDagRunReferenceResult:
    return AssetEventDagRunReferenceResult.model_validate(
        {
            "asset": {"name": asset.name, "uri": asset.uri, "extra": {}},
            "extra": extra,
            "source_task_id": None,
            "source_dag_id": None,
            "source_run_id": None,
            "source_map_index": None,
            "source_aliases": [{"name": alias} for alias in aliases],
            "timestamp": T0 + timedelta(seconds=seconds),
        }
    )


def _from_trigger(call_id: Any, **more: Any) -> dict[str, Any]:
    payload = {"call_id": call_id, "agent_id": "agt_support", "direction": "inbound", "status": "completed"}
    return {"from_trigger": True, "payload": payload | more}


def _accessor(*events: AssetEventDagRunReferenceResult) -> TriggeringAssetEventsAccessor:
    return TriggeringAssetEventsAccessor.build(events)


class DictStore:
    """An asset state store with the accessor's ``get``/``set`` (values JSON-roundtripped)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        import json

        self.values[key] = json.loads(json.dumps(value))
        self.writes += 1


class StoreByAsset:
    """``context["asset_state_store"]``: subscript by asset."""

    def __init__(self, **stores: DictStore) -> None:
        self.stores = stores

    def __getitem__(self, asset: Asset) -> DictStore:
        return self.stores[asset.name]


class FakeTI:
    dag_id = "consumer_dag"
    task_id = "load"


def test_ids_in_order_each_once_and_other_events_skipped() -> None:
    events = _accessor(
        _event(CALLS, 3, _from_trigger("call_c")),
        _event(CALLS, 1, _from_trigger("call_a")),
        _event(CALLS, 2, {"note": "a manual asset event"}),
        _event(CALLS, 4, _from_trigger("call_a")),  # fired again after a restart
        _event(CALLS, 5, {"payload": {"call_id": ""}}),
        _event(CALLS, 6, {"payload": {"call_id": 42}}),
        _event(CALLS, 7, {"payload": "call_x"}),
        _event(CALLS, 8, _from_trigger("call_b")),
    )
    assert call_ids(events, CALLS) == ["call_a", "call_c", "call_b"]  # oldest first, each once
    assert call_ids(events) == ["call_a", "call_c", "call_b"]
    assert [p["status"] for p in call_events(events, CALLS)] == ["completed"] * 3


def test_every_asset_merged_by_time_and_aliases_counted_once() -> None:
    events = _accessor(
        _event(CALLS, 2, _from_trigger("call_2"), aliases=("all_calls",)),
        _event(OTHER, 1, _from_trigger("call_1")),
        _event(OTHER, 3, _from_trigger("call_2")),
    )
    assert call_ids(events) == ["call_1", "call_2"]
    assert call_ids(events, OTHER) == ["call_1", "call_2"]
    assert call_ids(events, AssetAlias("all_calls")) == ["call_2"]
    assert call_ids(events, Asset("never_triggered")) == []
    assert call_ids(None) == []


def test_event_payload_is_a_copy_and_needs_a_call_id() -> None:
    event = _event(CALLS, 0, _from_trigger("call_1"))
    payload = event_payload(event)
    assert payload is not None
    assert payload["call_id"] == "call_1"
    payload["call_id"] = "changed"
    assert event_payload(event) == {**payload, "call_id": "call_1"}, "the event itself is unchanged"
    assert event_payload({"extra": {"payload": {"call_id": "call_d"}}}) == {"call_id": "call_d"}
    assert event_payload({"extra": None}) is None


def test_handled_record_skips_recorded_ids_and_stays_bounded() -> None:
    store = DictStore()
    handled = HandledCalls(store, "k", max_ids=3)
    assert handled.unhandled(["a", "b"]) == ["a", "b"]
    handled.record(["a", "b", "a"])
    assert handled.load() == ["a", "b"]
    handled.record(["c", "d"])
    assert handled.load() == ["b", "c", "d"], "the oldest id goes first"
    handled.record(["b"])  # re-recorded: becomes the newest
    assert handled.load() == ["c", "d", "b"]
    assert handled.unhandled(["a", "b", "e"]) == ["a", "e"]
    writes = store.writes
    handled.record([])
    assert store.writes == writes, "nothing to record writes nothing"
    store.values["k"] = {"ids": "garbage"}
    assert handled.load() == []
    with pytest.raises(ValueError, match="max_ids"):
        HandledCalls(store, "k", max_ids=0)


def test_calls_to_handle_skips_what_this_task_recorded() -> None:
    store = DictStore()
    events = _accessor(_event(CALLS, 1, _from_trigger("call_1")), _event(CALLS, 2, _from_trigger("call_2")))
    context = {"triggering_asset_events": events, "asset_state_store": StoreByAsset(**{CALLS.name: store}),
               "ti": FakeTI()}  # fmt: skip
    assert calls_to_handle(context, CALLS) == ["call_1", "call_2"]
    assert record_handled(context, ["call_1"], CALLS) is True
    assert list(store.values) == [handled_key("consumer_dag", "load")]
    assert calls_to_handle(context, CALLS) == ["call_2"]
    assert calls_to_handle(context, CALLS, skip_handled=False) == ["call_1", "call_2"]
    # Another consumer task of the same asset keeps a record of its own.
    assert calls_to_handle(context, CALLS, key="another") == ["call_1", "call_2"]


def test_without_an_asset_state_store_nothing_is_skipped_or_recorded() -> None:
    """Airflow 3.1/3.2, or a task without the asset among its inlets."""
    events = _accessor(_event(CALLS, 1, _from_trigger("call_1")))
    context = {"triggering_asset_events": events, "ti": FakeTI()}
    assert record_handled(context, ["call_1"], CALLS) is False
    assert calls_to_handle(context, CALLS) == ["call_1"]
    assert calls_to_handle({"triggering_asset_events": None}) == []
