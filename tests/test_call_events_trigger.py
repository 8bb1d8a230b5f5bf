"""OneInboxCallEventTrigger's arguments, serialisation and repr, and its cursor stores (no server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_oneinbox.events.store import AssetCursorStore, MemoryCursorStore, cursor_store_for
from airflow_provider_oneinbox.rules.call_events import CallCursor, event_payload
from airflow_provider_oneinbox.triggers.call_events import OneInboxCallEventTrigger
from tests.helpers.call_events import MemoryAccessor

KEYS = {"call_id", "agent_id", "direction", "status", "outcome", "analysed", "ended_at", "duration_seconds"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "agent_ids/phone_number"),
        ({"agent_ids": ["a"], "phone_number": "+14155550123"}, "agent_ids/phone_number"),
        ({"agent_ids": "agt_support"}, "agent_ids"),
        ({"agent_ids": []}, "agent_ids"),
        ({"agent_ids": [""]}, "agent_ids"),
        ({"phone_number": "+1 415 555"}, "phone_number"),
        ({"agent_ids": ["a"], "direction": "both"}, "direction"),
        ({"agent_ids": ["a"], "statuses": ["in_progress"]}, "statuses"),
        ({"agent_ids": ["a"], "statuses": "failed"}, "statuses"),
        ({"agent_ids": ["a"], "ready": "transcribed"}, "ready"),
        ({"agent_ids": ["a"], "poll_interval": 0}, "poll_interval"),
        ({"agent_ids": ["a"], "poll_interval": float("nan")}, "poll_interval"),
        ({"agent_ids": ["a"], "start_lookback": -1}, "start_lookback"),
        ({"agent_ids": ["a"], "analysis_grace": True}, "analysis_grace"),
        ({"agent_ids": ["a"], "max_pages_per_poll": 0}, "max_pages_per_poll"),
        ({"agent_ids": ["a"], "oneinbox_conn_id": " "}, "oneinbox_conn_id"),
    ],
)
def test_bad_arguments_fail_at_construction_naming_the_field_and_the_fix(
    kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=f"{field} .*; ") as raised:
        OneInboxCallEventTrigger(**kwargs)
    assert field in str(raised.value)


def test_serialize_round_trips_plain_kwargs_and_the_repr_masks_the_number() -> None:
    trigger = OneInboxCallEventTrigger(
        phone_number="+14155550123", statuses=["failed", "completed"], poll_interval=5
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_oneinbox.triggers.call_events.OneInboxCallEventTrigger"
    assert OneInboxCallEventTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert kwargs["statuses"] == ["completed", "failed"]
    assert "+14155550123" not in repr(trigger)
    assert "+***23" in repr(trigger)


def test_the_cursor_key_ignores_the_poll_interval_and_the_shared_key_does_not() -> None:
    one = OneInboxCallEventTrigger(agent_ids=["b", "a"], poll_interval=5)
    two = OneInboxCallEventTrigger(agent_ids=["a", "b"], poll_interval=30)
    assert one.cursor_key() == two.cursor_key()
    assert one.cursor_key() != OneInboxCallEventTrigger(agent_ids=["a", "b"], ready="ended").cursor_key()
    assert one.shared_stream_key() != two.shared_stream_key()
    assert (
        one.shared_stream_key()
        == OneInboxCallEventTrigger(
            agent_ids=["a", "b"], poll_interval=5, statuses=["failed"]
        ).shared_stream_key()
    )


def test_the_payload_has_exactly_the_documented_keys_and_nothing_private() -> None:
    call = {
        "id": "c1",
        "agent_id": "agt",
        "type": "inbound",
        "status": "completed",
        "from_number": "+14155550199",
        "to_number": "+14155550123",
        "analysis": {"outcome": "Interested", "summary": "secret summary"},
        "transcript": "secret transcript",
        "recording_url": "https://signed.example/rec?sig=x",
        "ended_at": "2026-12-03T17:00:00Z",
        "duration_seconds": True,
    }
    payload = event_payload(call, True)
    assert set(payload) == KEYS
    assert payload["direction"] == "inbound"
    assert payload["outcome"] == "Interested"
    assert payload["duration_seconds"] is None  # a boolean is not a duration
    for private in ("+1415", "secret", "signed"):
        assert private not in repr(payload)


def test_the_asset_store_writes_every_copy_and_reads_them_merged() -> None:
    # An in-memory fake of Airflow 3.3's per-asset accessor: a unit test of the cursor store only.
    first, second = MemoryAccessor(), MemoryAccessor()
    store = AssetCursorStore([first, second], "k")

    async def main() -> None:
        assert await store.load(3.0) == {}
        await store.save({"agt": CallCursor(100.0, 50.0, {"a": 101.0, "b": 102.0})})
        await store.save({"agt": CallCursor(100.0, 50.0, {"a": 101.0, "b": 102.0})})  # unchanged: not written
        assert first.writes == second.writes == 1
        second.values["k"]["agents"]["agt"]["settled"].pop("a")  # one copy behind
        loaded = (await store.load(3.0))["agt"]
        assert (loaded.floor, loaded.settled) == (100.0, {"b": 102.0})
        fresh = AssetCursorStore([first, MemoryAccessor()], "k")  # an asset added to the watcher
        assert (await fresh.load(3.0))["agt"].settled == {"a": 101.0, "b": 102.0}

    asyncio.run(main())


def test_without_an_asset_state_store_the_cursor_is_kept_in_this_process() -> None:
    store = cursor_store_for(None, "key-x")
    assert isinstance(store, MemoryCursorStore)
    assert store.durable is False

    async def main() -> None:
        await store.save({"agt": CallCursor(1.0, 1.0, {"a": 2.0})})
        assert (await cursor_store_for(None, "key-x").load(3.0))["agt"].settled == {"a": 2.0}

    asyncio.run(main())
    assert isinstance(
        cursor_store_for(type("Accessors", (), {"_by_name": {"x": MemoryAccessor()}})(), "k"),
        AssetCursorStore,
    )


def test_the_shared_stream_key_holds_no_phone_number() -> None:
    key = OneInboxCallEventTrigger(phone_number="+14155550123").shared_stream_key()
    assert "4155550123" not in repr(key)
    assert key != OneInboxCallEventTrigger(phone_number="+14155550124").shared_stream_key()
