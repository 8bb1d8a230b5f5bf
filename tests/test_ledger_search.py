"""
The ledger for many keys (a campaign's contacts): one walk of the agent's calls resolves them all,
and their records take a few task state store values, not one round trip per contact. Against the
simulator over loopback, the store stand-in of ``tests/helpers/stores.py`` and, on Airflow 3.3,
Airflow's own task state store inside a real task.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib.util import find_spec
from typing import Any

import pytest

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.campaign_ledger import CAMPAIGN_STORE_HEAD_KEY, PAGE_SIZE, CampaignLedger
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.ledger import IDEMPOTENCY_METADATA_KEY, contact_idempotency_key
from airflow_provider_oneinbox.placed_calls import search_placed_calls
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from tests.helpers.calls import AGENT, FROM
from tests.helpers.stores import JsonTaskStore

CURSOR = "/v1/calls/cursor"
HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


def key(contact: int, attempt: int = 1) -> str:
    return contact_idempotency_key("campaign_dag", "run_1", "campaign", -1, f"crm-{contact}", attempt)


def place(hook: OneInboxHook, contact: int, call_key: str | None = None) -> str:
    call = hook.create_call(
        agent_id=AGENT,
        to_number=f"+1415556{contact:04d}",
        from_number=FROM,
        metadata={IDEMPOTENCY_METADATA_KEY: call_key or key(contact)},
    )
    return str(call["id"])


def campaign(hook: OneInboxHook, store: Any, **overrides: Any) -> CampaignLedger:
    arguments: dict[str, Any] = {"agent_id": AGENT, "search_limit": 1000, "log": logging.getLogger("t")}
    return CampaignLedger(hook, store, **{**arguments, **overrides})


def walks(sim: OneInboxSimulator) -> int:
    return len(sim.requests(method="GET", path_prefix=CURSOR))


def test_one_walk_finds_many_keys_and_stops_once_all_are_found(sim: OneInboxSimulator) -> None:
    with OneInboxHook() as hook:
        wanted = {key(i): place(hook, i) for i in range(3)}  # the oldest three calls
        for i in range(3, 230):
            place(hook, i, call_key=f"airflow-other-{i}")
        newest = {key(900): place(hook, 900)}
        found = search_placed_calls(hook, agent_id=AGENT, keys=newest, since=HOUR_AGO, max_calls=1000)
        assert {k: c["id"] for k, c in found.calls.items()} == newest
        assert (found.conclusive, found.examined, walks(sim)) == (True, 100, 1)  # no second page

        keys = [*wanted, *newest, key(999)]  # key(999) was never placed
        found = search_placed_calls(hook, agent_id=AGENT, keys=keys, since=HOUR_AGO, max_calls=1000)
    assert {k: c["id"] for k, c in found.calls.items()} == {**wanted, **newest}
    assert (found.conclusive, found.examined) == (True, 231)
    assert walks(sim) == 1 + 3  # one walk of three pages for five keys


def test_a_walk_stopped_at_its_bound_keeps_what_it_found_and_rules_out_nothing(
    sim: OneInboxSimulator,
) -> None:
    with OneInboxHook() as hook:
        old = place(hook, 1)
        for i in range(2, 160):
            place(hook, i, call_key=f"airflow-other-{i}")
        new = place(hook, 200)
        found = search_placed_calls(
            hook, agent_id=AGENT, keys=[key(1), key(200)], since=HOUR_AGO, max_calls=120
        )
    assert {k: c["id"] for k, c in found.calls.items()} == {key(200): new}
    assert not found.conclusive
    assert "read 120 calls" in found.reason
    assert old not in {c["id"] for c in found.calls.values()}


def test_thousands_of_records_take_a_few_store_values(sim: OneInboxSimulator) -> None:
    store = JsonTaskStore()
    keys = [key(i) for i in range(2 * PAGE_SIZE + 100)]
    with OneInboxHook() as hook:
        book = campaign(hook, store)
        assert book.load()
        assert book.begin(keys[:10])  # the first batch opens page 0: the page, then the head
        assert store.sets == 2
        assert book.begin(keys[10:])  # fills page 0, opens 1 and 2
        assert store.sets == 2 + 3 + 1
        ids = {k: f"{i:08d}-aaaa-4bbb-8ccc-{i:012d}" for i, k in enumerate(keys)}
        assert book.record_calls(ids)  # one write per page
        assert store.sets == 6 + 3
        assert store.largest < 64 * 1024  # Airflow's advisory max_value_storage_bytes

        gets = store.gets
        again = campaign(hook, store)
        assert again.load()
        assert store.gets - gets == 1 + 3
        resolution = again.resolve(keys, since=HOUR_AGO, search_unrecorded=True)
    assert resolution.placed == ids
    assert (resolution.unplaced, resolution.unknown) == (frozenset(), frozenset())
    assert walks(sim) == 0  # the store answered every key
    assert json.loads(store.values[CAMPAIGN_STORE_HEAD_KEY]) == {"pages": 3}


def test_a_retry_after_a_crash_resolves_its_contacts_with_one_walk(sim: OneInboxSimulator) -> None:
    store = JsonTaskStore()
    keys = [key(i) for i in range(6)]
    with OneInboxHook() as hook:
        first = campaign(hook, store)
        first.load()
        assert first.resolve(keys, since=HOUR_AGO, search_unrecorded=False).unplaced == frozenset(keys)
        assert first.begin(keys)
        placed = {k: place(hook, i) for i, k in enumerate(keys[:4])}
        first.record_calls({k: placed[k] for k in keys[:2]})  # the worker dies before saving the rest
        for i in range(50):
            place(hook, 100 + i, call_key=f"airflow-other-{i}")

        retry = campaign(hook, store)
        assert retry.load()
        resolution = retry.resolve(keys, since=HOUR_AGO, search_unrecorded=True)
        assert resolution.placed == placed
        assert resolution.unplaced == frozenset(keys[4:])
        assert resolution.unknown == frozenset()
        assert walks(sim) == 1
        # What the walk found is saved: a third try needs no walk.
        third = campaign(hook, store)
        third.load()
        assert third.resolve(keys[:4], since=HOUR_AGO, search_unrecorded=True).placed == placed
    assert walks(sim) == 1
    assert len(sim.requests(method="POST", path_prefix="/v1/calls")) == 4 + 50


def test_a_create_that_never_left_needs_no_walk(sim: OneInboxSimulator) -> None:
    store = JsonTaskStore()
    with OneInboxHook() as hook:
        book = campaign(hook, store)
        book.load()
        book.begin([key(1), key(2)])
        assert book.mark_not_sent([key(1)])
        retry = campaign(hook, store)
        retry.load()
        resolution = retry.resolve([key(1)], since=HOUR_AGO, search_unrecorded=True)
        assert resolution.unplaced == {key(1)}
        assert walks(sim) == 0
        assert retry.begin([key(1)])  # dialling it again records it as "may be sent" again
        assert "sent" not in (retry.entry(key(1)) or {"sent": 1})


def test_doubt_is_never_a_no(sim: OneInboxSimulator) -> None:
    store = JsonTaskStore()
    with OneInboxHook() as hook:
        book = campaign(hook, store, page_size=2)
        book.load()
        book.begin([key(i) for i in range(4)])  # two pages
        del store.values[f"{CAMPAIGN_STORE_HEAD_KEY}_1"]  # a page the head counts is gone
        damaged = campaign(hook, store)
        assert damaged.load() is False
        resolution = damaged.resolve([key(9)], since=HOUR_AGO, search_unrecorded=False)
        assert (resolution.unplaced, walks(sim)) == ({key(9)}, 1)  # searched, not assumed new

        off = campaign(hook, store, search_limit=0)
        off.load()
        resolution = off.resolve([key(0), key(9)], since=HOUR_AGO, search_unrecorded=True)
        assert resolution.unknown == {key(0), key(9)}
        assert "reattach_search_limit=0" in resolution.reason

        sim.set_faults(server_error_ratio=1.0)
        resolution = campaign(hook, store).resolve([key(0)], since=HOUR_AGO, search_unrecorded=True)
        assert (resolution.unknown, resolution.placed) == ({key(0)}, {})
        assert "listing calls failed" in resolution.reason


def test_a_failed_write_forbids_dialling_until_it_is_written(sim: OneInboxSimulator) -> None:
    store = JsonTaskStore(fail_sets=1)
    with OneInboxHook() as hook:
        book = campaign(hook, store)
        book.load()
        assert book.begin([key(1)]) is False
        assert store.values == {}
        assert book.begin([key(1)]) is True  # nothing new, but the unwritten page is written now
    assert key(1) in json.loads(store.values[f"{CAMPAIGN_STORE_HEAD_KEY}_0"])


CAMPAIGN_DAG = """
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from airflow_provider_oneinbox.campaign_ledger import CampaignLedger
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.ledger import IDEMPOTENCY_METADATA_KEY, contact_idempotency_key

with DAG(dag_id="{dag_id}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:

    @task(retries=1, retry_delay=timedelta(0))
    def campaign(**context):
        ti = context["ti"]
        keys = {{
            contact_idempotency_key(ti.dag_id, ti.run_id, ti.task_id, -1, f"c{{i}}"): i for i in range(5)
        }}
        with OneInboxHook() as hook:
            book = CampaignLedger(hook, context["task_state_store"], agent_id="{agent}", search_limit=500)
            assert book.load()
            stored = sum(1 for key in keys if (book.entry(key) or {{}}).get("id"))
            due = context["dag_run"].run_after
            resolution = book.resolve(list(keys), since=due, search_unrecorded=ti.try_number > 1)
            assert not resolution.unknown, resolution.reason
            if resolution.unplaced:
                assert book.begin(resolution.unplaced)
            placed = {{}}
            for key in sorted(resolution.unplaced):
                number = "+1415557%04d" % keys[key]
                call = hook.create_call(
                    agent_id="{agent}", to_number=number, from_number="{source}",
                    metadata={{IDEMPOTENCY_METADATA_KEY: key}},
                )
                placed[key] = call["id"]
            book.record_calls(dict(list(placed.items())[:2]))  # the rest is lost in the crash below
            if ti.try_number == 1:
                raise RuntimeError("the worker is lost after placing the campaign's calls")
            return {{"stored": stored, "found": len(resolution.placed), "dialled": len(placed)}}

    campaign()
"""


@pytest.mark.skipif(
    find_spec("airflow.models.task_state_store") is None, reason="the task state store is Airflow 3.3+"
)
def test_a_campaign_task_retried_on_airflow_s_task_state_store_dials_no_contact_twice(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    source = CAMPAIGN_DAG.format(dag_id="ledger_campaign", agent=AGENT, source=FROM)
    dag_run = load_dag(source).test()
    (ti,) = dag_run.get_task_instances()
    assert (ti.state, ti.try_number) == ("success", 2)
    # Try 2 read the two ids try 1 saved from Airflow's store, and found the other three by one walk.
    assert ti.xcom_pull(task_ids="campaign") == {"stored": 2, "found": 5, "dialled": 0}
    assert len(sim.requests(method="POST", path_prefix="/v1/calls")) == 5
    assert walks(sim) == 1
