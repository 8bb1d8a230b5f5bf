"""Many OneInboxCallTriggers on one loop sharing the agent's list requests (real simulator, real sockets)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from airflow_provider_oneinbox.hooks import api
from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.triggers import shared_poller
from airflow_provider_oneinbox.triggers.calls import OneInboxCallTrigger
from tests.helpers.calls import place
from tests.helpers.trigger_runs import deciding_records

LIST_PATH = "/v1/calls/cursor"
WAITS = 24  # comfortably above shared_poller.MIN_SHARED_CALLS


def triggers_for(call_ids: list[str], **kwargs: Any) -> list[OneInboxCallTrigger]:
    kwargs.setdefault("poll_interval", 0.2)
    kwargs.setdefault("analysis_grace_period", 3.0)
    kwargs.setdefault("deadline", time.time() + 60)
    kwargs.setdefault("agent_id", "agt_sales")
    return [OneInboxCallTrigger(call_id=call_id, **kwargs) for call_id in call_ids]


async def wait_all(triggers: list[OneInboxCallTrigger]) -> list[list[dict[str, Any]]]:
    """Every trigger's events, all running on this loop as the triggerer runs them."""

    async def events(trigger: OneInboxCallTrigger) -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    results = await asyncio.gather(*(events(t) for t in triggers))
    assert shared_poller.active_pollers() == []  # the last wait to end retired the poller
    return list(results)


#: Each wait's deciding record by call id (events carry none), for the running test.
DECIDED: dict[str, dict[str, Any]] = {}


@pytest.fixture(autouse=True)
def record_deciding_records(monkeypatch: pytest.MonkeyPatch) -> None:
    DECIDED.clear()
    deciding_records(monkeypatch, into=DECIDED)


def assert_each_succeeded(results: list[list[dict[str, Any]]], call_ids: list[str]) -> None:
    assert [len(events) for events in results] == [1] * len(call_ids)
    for events, call_id in zip(results, call_ids, strict=True):
        event = events[0]
        assert (event["status"], event["call_id"], event["analysis_missing"]) == ("success", call_id, False)
        # The record the wait ended on carried the post-call data (from the list or its own read).
        assert DECIDED[call_id]["analysis"]["outcome"]
        assert DECIDED[call_id]["messages"]


def per_call_gets(sim: OneInboxSimulator) -> Counter[str]:
    return Counter(
        r["path"]
        for r in sim.requests(method="GET", path_prefix="/v1/calls/")
        if r["route"] == "/v1/calls/{call_id}"
    )


def list_requests(sim: OneInboxSimulator) -> list[dict[str, Any]]:
    return sim.requests(method="GET", path_prefix=LIST_PATH)


def place_calls(count: int, agent_id: str = "agt_sales") -> list[str]:
    # Scenarios 01 (booked), 03 (voicemail) and 07 (not interested) all end with an analysis.
    return [place(f"+141555502{('01', '03', '07')[i % 3]}", agent_id) for i in range(count)]


def test_waits_of_one_agent_share_list_pages_instead_of_one_get_each(sim: OneInboxSimulator) -> None:
    shared_ids = place_calls(WAITS)
    # Half the waits know their agent, half learn it from their first read of the call.
    triggers = triggers_for(shared_ids[: WAITS // 2]) + triggers_for(shared_ids[WAITS // 2 :], agent_id=None)
    assert_each_succeeded(asyncio.run(wait_all(triggers)), shared_ids)
    gets = per_call_gets(sim)
    shared_gets, shared_pages = sum(gets.values()), len(list_requests(sim))

    sim.reset()
    alone_ids = place_calls(WAITS)
    assert_each_succeeded(asyncio.run(wait_all(triggers_for(alone_ids, shared_polling=False))), alone_ids)
    alone_gets = sum(per_call_gets(sim).values())
    assert len(list_requests(sim)) == 0

    # Each call lasts several poll intervals: alone, every wait reads its call at each of them.
    assert alone_gets >= 4 * WAITS
    assert shared_pages >= 3  # the poller answered several rounds, so the waits barely read their calls:
    # at most the first read of those that had no agent id, and re-reads of calls that ended before
    # the list had shown that it carries post-call data.
    assert all(gets[f"/v1/calls/{call_id}"] <= 2 for call_id in shared_ids[: WAITS // 2])
    assert all(gets[f"/v1/calls/{call_id}"] <= 3 for call_id in shared_ids[WAITS // 2 :])
    assert shared_gets + shared_pages < alone_gets / 3


def test_a_call_the_list_does_not_show_is_polled_by_its_own_wait(sim: OneInboxSimulator) -> None:
    listed = place_calls(WAITS)
    # Told the wrong agent, this wait never finds its call on the list it watches.
    stray = place("+14155550201", agent_id="agt_support")
    triggers = triggers_for([*listed, stray])
    assert_each_succeeded(asyncio.run(wait_all(triggers)), [*listed, stray])
    gets = per_call_gets(sim)
    assert gets[f"/v1/calls/{stray}"] >= 3  # read by itself every round
    assert max(gets[f"/v1/calls/{call_id}"] for call_id in listed) <= 1


@pytest.mark.parametrize(
    "left_out",
    [
        {"messages": [], "analysis": None, "transcript": None},  # never taken for a missing analysis
        {"messages": [], "transcript": None},  # an analysis alone never ends a wait without its transcript
    ],
)
def test_a_list_without_post_call_data_never_ends_a_wait_without_it(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch, left_out: dict[str, Any]
) -> None:
    real_list = OneInboxAsyncHook.list_calls_cursor

    async def list_without_post_call_data(self: OneInboxAsyncHook, *args: Any, **kwargs: Any) -> Any:
        page = await real_list(self, *args, **kwargs)
        for item in page["items"]:
            item.update(left_out)
        return page

    monkeypatch.setattr(OneInboxAsyncHook, "list_calls_cursor", list_without_post_call_data)
    call_ids = place_calls(WAITS)
    # Each call's own record brings the analysis, well before the grace period would give up on it.
    assert_each_succeeded(asyncio.run(wait_all(triggers_for(call_ids, analysis_grace_period=30))), call_ids)
    gets = per_call_gets(sim)
    assert all(1 <= gets[f"/v1/calls/{call_id}"] <= 3 for call_id in call_ids)


def test_a_list_the_api_refuses_for_good_switches_every_wait_to_its_own_polls(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A deployment without the cursor list: the simulator answers a real 404 for this path.
    missing = "/v1/calls-cursor"
    real_list = api.list_calls_cursor
    monkeypatch.setattr(api, "list_calls_cursor", lambda *a, **k: replace(real_list(*a, **k), path=missing))
    call_ids = place_calls(WAITS)
    assert_each_succeeded(asyncio.run(wait_all(triggers_for(call_ids))), call_ids)
    assert [r["status"] for r in sim.requests(path_prefix=missing)] == [404]  # tried once, never again
    gets = per_call_gets(sim)
    assert all(gets[f"/v1/calls/{call_id}"] >= 2 for call_id in call_ids)


def test_a_rate_limited_list_backs_off_without_a_stampede_of_own_polls(sim: OneInboxSimulator) -> None:
    call_ids = place_calls(WAITS)
    sim.set_faults(rate_limit_ratio=1.0, retry_after=0.3, only_paths=[LIST_PATH])

    async def scenario() -> list[list[dict[str, Any]]]:
        waits = asyncio.ensure_future(wait_all(triggers_for(call_ids, max_consecutive_errors=1)))
        await asyncio.sleep(2.5)
        during = sum(per_call_gets(sim).values())
        limited = [r for r in list_requests(sim) if r["status"] == 429]
        sim.clear_faults()
        results = await waits
        assert during == 0  # a failed list round is waited out, not raced with a GET per wait
        # The hook's own retries honour Retry-After (0.3 s) and rounds back off: few list requests.
        assert 2 <= len(limited) <= 12
        return results

    assert_each_succeeded(asyncio.run(scenario()), call_ids)


def test_a_list_that_keeps_failing_hands_the_waits_back_to_their_own_polls(sim: OneInboxSimulator) -> None:
    call_ids = place_calls(WAITS)
    sim.set_faults(server_error_ratio=1.0, only_paths=[LIST_PATH])  # only the list is down
    # Failed list rounds spend no wait's error budget: even waits that tolerate just one failure finish.
    results = asyncio.run(wait_all(triggers_for(call_ids, max_consecutive_errors=1)))
    assert_each_succeeded(results, call_ids)
    assert any(r["status"] == 503 for r in list_requests(sim)), "the list was tried"
    gets = per_call_gets(sim)
    assert all(gets[f"/v1/calls/{call_id}"] >= 1 for call_id in call_ids)  # then each read its own call


def test_waits_cancelled_by_a_restart_rejoin_a_new_poller_and_finish(sim: OneInboxSimulator) -> None:
    call_ids = [place("+14155550205") for _ in range(WAITS)]  # ends in 05: talks for 600 simulated s
    kwargs = [t.serialize()[1] for t in triggers_for(call_ids)]

    async def first_life() -> None:
        tasks = [asyncio.ensure_future(wait_all([OneInboxCallTrigger(**kw)])) for kw in kwargs]
        await asyncio.sleep(0.5)
        assert len(shared_poller.active_pollers()) == 1
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes), outcomes
        assert shared_poller.active_pollers() == []

    asyncio.run(first_life())
    assert not [r for r in sim.requests(method="POST") if r["path"].endswith("/stop")]  # calls go on
    pages_before = len(list_requests(sim))
    sim.advance(700)  # every call ends; analyses follow
    # The triggerer comes back: the same kwargs rebuild the waits in a new process (here, a new loop).
    results = asyncio.run(wait_all([OneInboxCallTrigger(**kw) for kw in kwargs]))
    assert_each_succeeded(results, call_ids)
    assert len(list_requests(sim)) > pages_before  # answered by the new poller
