"""A campaign ledger whose store could not be read whole never writes over what it did not read."""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_oneinbox.campaign_ledger import CAMPAIGN_STORE_HEAD_KEY, CampaignLedger
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from tests.helpers.calls import AGENT
from tests.helpers.stores import JsonTaskStore

PAGE = 3


def book(hook: OneInboxHook, store: JsonTaskStore) -> CampaignLedger:
    return CampaignLedger(hook, store, agent_id=AGENT, search_limit=100, page_size=PAGE)


def recorded(store: JsonTaskStore) -> dict[str, Any]:
    """Every entry the store holds, through its head, as a fresh reader sees them."""
    head = json.loads(store.values[CAMPAIGN_STORE_HEAD_KEY])
    entries: dict[str, Any] = {}
    for index in range(head["pages"]):
        entries.update(json.loads(store.values[f"{CAMPAIGN_STORE_HEAD_KEY}_{index}"]))
    return entries


def three_pages(hook: OneInboxHook, store: JsonTaskStore) -> list[str]:
    keys = [f"k{i}" for i in range(3 * PAGE)]
    first = book(hook, store)
    assert first.load()
    assert first.begin(keys)
    assert json.loads(store.values[CAMPAIGN_STORE_HEAD_KEY]) == {"pages": 3}
    return keys


def test_an_unread_head_records_nothing_and_forbids_dialling(sim: Any) -> None:
    store = JsonTaskStore()
    with OneInboxHook() as hook:
        keys = three_pages(hook, store)
        before = dict(store.values)
        store.fail_gets = 1  # the head's read fails
        again = book(hook, store)
        assert again.load() is False
        assert again.begin(["new"]) is False  # dial nothing
        assert again.record_calls({"new": "call-1"}) is False
    assert store.values == before
    assert set(recorded(store)) == set(keys)


def test_an_unread_page_is_never_written_and_new_keys_go_to_a_new_page(sim: Any) -> None:
    store = JsonTaskStore()
    with OneInboxHook() as hook:
        keys = three_pages(hook, store)
        last_page = store.values[f"{CAMPAIGN_STORE_HEAD_KEY}_2"]
        again = book(hook, store)
        original_get = store.get

        def failing_last_page(name: str, default: Any = None) -> Any:
            if name == f"{CAMPAIGN_STORE_HEAD_KEY}_2":
                raise RuntimeError("the API server did not answer")
            return original_get(name, default)

        store.get = failing_last_page  # type: ignore[method-assign,assignment]
        assert again.load() is False
        assert again.begin(["new"]) is True
    assert store.values[f"{CAMPAIGN_STORE_HEAD_KEY}_2"] == last_page
    assert set(recorded(store)) == {*keys, "new"}
