"""The campaign's saved progress: a resume reads the head and the active pages only; never writes blind."""

from __future__ import annotations

import json
from collections import Counter

from airflow_provider_oneinbox.campaigns.progress import PROGRESS_HEAD_KEY, CampaignProgress
from tests.helpers.stores import JsonTaskStore

SIZE = 10
CONTACTS = 1000


def settled(i: int) -> dict[str, object]:
    return {"f": "completed", "o": "Interested", "m": f"summary {i}", "n": 1, "c": [f"call_{i}"]}


def live(i: int) -> dict[str, object]:
    return {"n": 1, "c": [f"call_{i}"], "l": f"call_{i}", "t": "2026-01-01T00:00:00+00:00"}


def progress(store: JsonTaskStore, try_number: int = 1) -> CampaignProgress:
    return CampaignProgress(store, contacts=CONTACTS, page_size=SIZE, try_number=try_number)


def saved_campaign(store: JsonTaskStore) -> None:
    """990 contacts settled, 10 live: 5 on page 3 and 5 on page 70."""
    first = progress(store)
    assert not first.load()  # nothing saved yet
    live_ones = [30, 31, 32, 33, 34, 700, 701, 702, 703, 704]
    changed = {i: live(i) if i in live_ones else settled(i) for i in range(CONTACTS)}
    finals = [i for i in range(CONTACTS) if i not in live_ones]
    assert first.save(changed, finals, Counter({"Interested": 990}), placed=990)


def test_a_resume_reads_the_head_and_the_active_pages_only() -> None:
    store = JsonTaskStore()
    saved_campaign(store)
    store.gets = 0

    again = progress(store)
    assert again.load()
    assert store.gets == 3  # the head and pages 3 and 70, not 100 pages
    assert sorted(again.entries) == [30, 31, 32, 33, 34, 700, 701, 702, 703, 704]
    assert again.entries[700]["l"] == "call_700"
    assert again.is_final(0)
    assert again.is_final(999)
    assert not again.is_final(30)
    assert again.outcomes == Counter({"Interested": 990})
    assert again.placed == 990
    rows = list(again.settled())
    assert [position for position, _ in rows] == [
        i for i in range(CONTACTS) if not 30 <= i < 35 and not 700 <= i < 705
    ]
    assert rows[0][1]["m"] == "summary 0"
    assert len(store.values[PROGRESS_HEAD_KEY]) < 1000  # the bit set compresses


def test_a_save_writes_only_the_pages_that_changed_and_keeps_their_other_entries() -> None:
    store = JsonTaskStore()
    saved_campaign(store)
    again = progress(store)
    assert again.load()
    store.sets = 0

    finals = [i for i in range(CONTACTS) if i not in (31, 32, 33, 34, 700, 701, 702, 703, 704)]
    assert again.save({30: settled(30)}, finals, Counter({"Interested": 991}), placed=991)

    assert store.sets == 2  # page 3 and the head
    page = json.loads(store.values[f"{PROGRESS_HEAD_KEY}_3"])
    assert page["30"]["f"] == "completed"
    assert page["31"]["l"] == "call_31"
    assert page["39"]["f"] == "completed"
    third = progress(store)
    assert third.load()
    assert sorted(third.entries) == [31, 32, 33, 34, 700, 701, 702, 703, 704]


def test_an_unreadable_head_writes_nothing() -> None:
    store = JsonTaskStore()
    saved_campaign(store)
    before = dict(store.values)
    store.fail_gets = 1
    blind = progress(store)

    assert not blind.load()
    assert not blind.save({5: settled(5)}, [5], Counter())
    assert store.values == before


def test_an_unreadable_page_is_never_overwritten() -> None:
    store = JsonTaskStore()
    saved_campaign(store)
    before = store.values[f"{PROGRESS_HEAD_KEY}_3"]
    reader = progress(store)
    reader.store = FailingPage(store, f"{PROGRESS_HEAD_KEY}_3")

    assert not reader.load()  # page 3 holds live contacts and could not be read: not usable
    assert not reader.save({30: settled(30)}, [30], Counter())
    assert store.values[f"{PROGRESS_HEAD_KEY}_3"] == before


def test_a_save_from_another_try_is_not_trusted_for_live_calls_but_its_settled_contacts_are() -> None:
    store = JsonTaskStore()
    saved_campaign(store)
    retry = progress(store, try_number=2)

    assert not retry.load()
    assert retry.is_final(0)
    assert not retry.is_final(30)


def test_a_head_saved_for_other_contacts_is_not_used_nor_overwritten() -> None:
    store = JsonTaskStore()
    saved_campaign(store)
    before = dict(store.values)
    other = CampaignProgress(store, contacts=CONTACTS + 1, page_size=SIZE)

    assert not other.load()
    assert not other.save({0: settled(0)}, [0], Counter())
    assert store.values == before


class FailingPage:
    """A store whose ``get`` of one key fails, as an API server that does not answer."""

    def __init__(self, store: JsonTaskStore, failing: str) -> None:
        self.store, self.failing = store, failing

    def get(self, key: str, default: object = None) -> object:
        if key == self.failing:
            raise RuntimeError("the API server did not answer")
        return self.store.get(key, default)

    def set(self, key: str, value: object) -> None:
        self.store.set(key, value)
