"""
A create refused for the daily call quota: a typed error raised at once (never retried by the hooks),
saying when the quota resets; the place-call task fails on its first try saying so.

Against the simulator with ``max_calls_per_day`` set, over loopback (and a scripted loopback server
for the async hook, which never creates calls).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.exceptions import (
    OneInboxQuotaExceededError,
    OneInboxRateLimitError,
    quota_reset_time,
)
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.task_errors import AirflowFailException, airflow_error
from tests.conftest import TEST_API_KEY, connection_json, task_xcoms, use_simulator
from tests.helpers.dags import instances, write_dag
from tests.helpers.loopback import LoopbackServer, Reply

AGENT, FROM = "agt_sales", "+14155550100"


def posts(sim: OneInboxSimulator) -> list[dict[str, Any]]:
    return sim.requests(method="POST", path_prefix="/v1/calls")


@pytest.mark.parametrize("status", [429, 403])
def test_the_sync_hook_raises_the_quota_error_at_once_with_the_reset_time(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    # Retries on, with pauses long enough to notice: a quota refusal must not use them.
    use_simulator(sim, monkeypatch, max_retries=5, retry_wait_min=2, retry_wait_max=30)
    sim.configure(max_calls_per_day=1, quota_refusal_status=status)
    hook = OneInboxHook()
    hook.create_call(AGENT, "+14155550301", FROM)
    started, before = time.monotonic(), datetime.now(UTC)
    with pytest.raises(OneInboxQuotaExceededError) as info:
        hook.create_call(AGENT, "+14155550302", FROM)

    assert time.monotonic() - started < 2, "no pause: the hook did not wait to retry"
    assert [r["status"] for r in posts(sim)] == [201, status], "one refused POST, not retried"
    error = info.value
    assert isinstance(error, OneInboxRateLimitError)  # code that pauses on any refusal still catches it
    assert (error.status_code, error.code, error.transient) == (status, "DAILY_CALL_LIMIT_REACHED", False)
    # The simulator resets at its next 00:00 UTC; its clock runs ahead (speed 20), so only bounds hold.
    assert before < error.resets_at
    if status == 429:
        assert error.retry_after is not None
        assert error.resets_at <= before + timedelta(seconds=error.retry_after + 5)
    else:  # no Retry-After with a 403: the next 00:00 UTC
        assert error.resets_at == quota_reset_time(None, before)
    assert f"resets at {error.resets_at:%Y-%m-%d %H:%M} UTC" in str(error)
    assert TEST_API_KEY not in str(error) + repr(error)


def test_the_async_hook_does_not_retry_it_either(monkeypatch: pytest.MonkeyPatch) -> None:
    # The async hook never creates calls (never from a trigger), so a scripted loopback server refuses
    # a read with the quota's answer: the shared async retry loop must raise it at once too.
    refusal = {"detail": "Daily call limit of 5 reached", "code": "DAILY_CALL_LIMIT_REACHED"}
    script = {("GET", "/v1/usage"): Reply(429, refusal, headers={"Retry-After": "7200"})}
    with LoopbackServer(script) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_ONEINBOX_DEFAULT",
            connection_json(server.base_url, max_retries=5, retry_wait_min=2, retry_wait_max=30),
        )
        started, before = time.monotonic(), datetime.now(UTC)
        with pytest.raises(OneInboxQuotaExceededError) as info:
            asyncio.run(OneInboxAsyncHook().get_usage())
        assert time.monotonic() - started < 2
        assert len(server.requests("GET", "/v1/usage")) == 1
    resets_at = info.value.resets_at
    assert before + timedelta(seconds=7200) <= resets_at <= datetime.now(UTC) + timedelta(seconds=7200)


def test_other_429s_are_still_retried(sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # One call at a time: a concurrency 429 is retried (until the budget ends), unlike the quota.
    use_simulator(sim, monkeypatch, max_retries=2, retry_wait_min=0.01, retry_wait_max=0.05)
    sim.configure(max_concurrent_calls=1)
    hook = OneInboxHook()
    hook.create_call(AGENT, "+14155550304", FROM)
    with pytest.raises(OneInboxRateLimitError) as info:
        hook.create_call(AGENT, "+14155550305", FROM)
    assert not isinstance(info.value, OneInboxQuotaExceededError)
    assert len(posts(sim)) == 1 + 3


def test_reset_time_without_retry_after_is_the_next_midnight_utc() -> None:
    now = datetime(2026, 3, 7, 22, 15, tzinfo=UTC)
    assert quota_reset_time(None, now) == datetime(2026, 3, 8, tzinfo=UTC)
    assert quota_reset_time(90, now) == now + timedelta(seconds=90)
    error = OneInboxQuotaExceededError("refused", resets_at=datetime(2026, 3, 8, tzinfo=UTC), code="X")
    failure = airflow_error(error, "Placing the call")
    assert isinstance(failure, AirflowFailException)
    assert "used up until 2026-03-08 00:00 UTC" in str(failure)
    assert "not retried" in str(failure)


PLACE = (
    'OneInboxPlaceCallOperator(task_id="call", agent_id="agt_sales", to_number="+14155550306", '
    'from_number="+14155550100", wait_for_completion={wait}, poll_interval=0.2, analysis_grace_period=1, '
    "retries=3, retry_delay=timedelta(0){extra})"
)


@pytest.mark.airflow_db
def test_the_place_call_task_fails_on_its_first_try_saying_when_the_quota_resets(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], task_runs: list[Any]
) -> None:
    sim.configure(max_calls_per_day=0)
    dag_run = write_dag(load_dag, PLACE.format(wait=False, extra=""), prefix="quota").test()

    (ti,) = instances(dag_run)
    assert (ti.state, ti.try_number) == ("failed", 1), "retries=3 but a retry could only be refused again"
    assert len(posts(sim)) == 1
    (run,) = [r for r in task_runs if r.ti.task_id == "call"]
    message = str(run.error)
    assert "daily call quota is used up until" in message, message
    assert "DAILY_CALL_LIMIT_REACHED" in message
    assert "clear it after the reset" in message
    assert TEST_API_KEY not in message


@pytest.mark.airflow_db
def test_with_failures_as_results_a_quota_refusal_is_a_not_placed_result(
    sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    sim.configure(max_calls_per_day=0)
    body = PLACE.format(wait=True, extra=", failures_as_results=True")
    dag_run = write_dag(load_dag, body, prefix="quota").test()

    (ti,) = instances(dag_run)
    assert (ti.state, ti.try_number) == ("success", 1)
    (result,) = task_xcoms(dag_run, "call")
    assert result["status"] == "not_placed"
    assert "DAILY_CALL_LIMIT_REACHED" in result["reason"], result
    assert len(posts(sim)) == 1
