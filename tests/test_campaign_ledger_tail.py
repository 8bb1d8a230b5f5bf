"""A campaign ledger loaded for its tail: two reads, new attempts appended, earlier pages never written."""

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


def test_a_tail_load_reads_two_values_and_appends_without_touching_earlier_pages(sim: Any) -> None:
    store = JsonTaskStore()
    with OneInboxHook() as hook:
        first = book(hook, store)
        assert first.load()
        assert first.begin([f"k{i}" for i in range(3 * PAGE - 1)])  # three pages, the last not full
        assert first.record_calls({"k0": "call_0"})
        earlier = {i: store.values[f"{CAMPAIGN_STORE_HEAD_KEY}_{i}"] for i in range(2)}
        store.gets = 0

        tail = book(hook, store)
        assert not tail.load(tail_only=True)  # incomplete: only the last page was read
        assert store.gets == 2
        assert tail.begin(["new1", "new2"])
        assert tail.record_calls({"new1": "call_new1"})

        assert {i: store.values[f"{CAMPAIGN_STORE_HEAD_KEY}_{i}"] for i in range(2)} == earlier
        assert json.loads(store.values[CAMPAIGN_STORE_HEAD_KEY]) == {"pages": 4}
        whole = book(hook, store)
        assert whole.load()
        assert (whole.entry("k0") or {}).get("id") == "call_0"
        assert (whole.entry("new1") or {}).get("id") == "call_new1"
        assert whole.entry("new2") is not None
