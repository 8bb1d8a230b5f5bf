"""The simulator's limits as clients meet them: the hook's 429 handling, the command line, a busy burst."""

from __future__ import annotations

import importlib.util
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_oneinbox.exceptions import OneInboxRateLimitError
from airflow_provider_oneinbox.simulator.__main__ import build_parser
from tests.conftest import TEST_API_KEY, use_simulator
from tests.helpers.simulator_cli import simulator_process

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

#: The hook is an Airflow hook; the rest of this file runs without Airflow (scripts/test-simulator-newest).
needs_airflow = pytest.mark.skipif(
    importlib.util.find_spec("airflow") is None, reason="the OneInbox hook needs Airflow"
)

AGENT = "agt_sales"
FROM = "+14157770000"


def new_hook(**settings: Any) -> OneInboxHook:
    """A OneInbox hook on ``oneinbox_default`` (imported here: the hook module imports Airflow)."""
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

    return OneInboxHook(**settings)


def creates(sim: OneInboxSimulator) -> list[int | None]:
    """Statuses of every ``POST /v1/calls``, oldest first."""
    return [r["status"] for r in sim.requests(method="POST") if r["path"] == "/v1/calls"]


@needs_airflow
def test_hook_surfaces_a_concurrency_refusal_with_its_retry_after(frozen: OneInboxSimulator) -> None:
    frozen.configure(max_concurrent_calls=1)
    hook = new_hook(max_retries=0)
    hook.create_call(AGENT, "+14155552010", FROM)
    with pytest.raises(OneInboxRateLimitError) as info:
        hook.create_call(AGENT, "+14155552011", FROM)
    error = info.value
    assert (error.status_code, error.code, error.retry_after) == (429, "CONCURRENCY_LIMIT_REACHED", 5.0)
    assert "failed with 429 (code CONCURRENCY_LIMIT_REACHED)" in str(error)
    assert creates(frozen) == [201, 429]
    assert frozen.calls_created("+14155552011") == 0


@needs_airflow
def test_hook_gives_up_on_a_refused_create_without_ringing_anyone(
    frozen: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_simulator(frozen, monkeypatch, max_retries=2, retry_wait_min=0.01, retry_wait_max=0.05)
    frozen.configure(max_concurrent_calls=1)
    hook = new_hook()
    hook.create_call(AGENT, "+14155552010", FROM)
    with pytest.raises(OneInboxRateLimitError, match="CONCURRENCY_LIMIT_REACHED"):
        hook.create_call(AGENT, "+14155552011", FROM)
    assert creates(frozen) == [201, 429, 429, 429]  # retried within the budget: each refusal created nothing
    assert frozen.calls_created() == 1
    assert frozen.limits_record()["refusals_by_code"] == {"CONCURRENCY_LIMIT_REACHED": 3}


@needs_airflow
def test_hook_retries_a_rate_limited_create_and_rings_once(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_simulator(sim, monkeypatch, max_retries=6, retry_wait_min=0.05, retry_wait_max=0.5)
    sim.configure(speed=1.0, max_calls_per_second=1)
    hook = new_hook()
    hook.create_call(AGENT, "+14155552010", FROM)
    started = time.monotonic()
    second = hook.create_call(AGENT, "+14155552011", FROM)
    waited = time.monotonic() - started
    statuses = creates(sim)
    assert statuses[0] == 201
    assert statuses[-1] == 201
    assert set(statuses[1:-1]) == {429}, statuses  # refused until the rolling second passed, then placed
    assert 0.4 < waited < 5
    assert sim.calls_created("+14155552010") == sim.calls_created("+14155552011") == 1
    assert second["to_number"] == "+14155552011"
    record = sim.limits_record()
    assert record["peak_creates_per_second"] == 1
    assert record["refusals_by_code"] == {"RATE_LIMITED": len(statuses) - 2}


def test_a_busy_burst_never_exceeds_the_caps(sim: OneInboxSimulator) -> None:
    """Eight clients hammering creates on a fast clock: every 201 is a call, every peak within its cap."""
    sim.configure(speed=50.0, max_concurrent_calls=3, max_calls_per_second=2)
    accepted: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()

    def client(worker: int) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {TEST_API_KEY}"
            for i in range(15):
                to = f"+1415556{worker:02d}{i + 10:02d}"
                body = {"agent_id": AGENT, "to_number": to, "from_number": FROM}
                response = session.post(f"{sim.base_url}/v1/calls", json=body, timeout=10)
                with lock:
                    (accepted if response.status_code == 201 else refused).append(response.json().get("code"))

    threads = [threading.Thread(target=client, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(accepted) + len(refused) == 120
    assert accepted
    assert refused
    assert sim.calls_created() == len(accepted)
    record = sim.limits_record()
    assert record["peak_live_calls_by_agent"][AGENT] <= 3
    assert record["peak_creates_per_second"] <= 2
    assert sum(record["refusals_by_code"].values()) == len(refused)
    assert set(refused) <= {"CONCURRENCY_LIMIT_REACHED", "RATE_LIMITED"}


def test_cli_flags_set_the_limits() -> None:
    help_text = build_parser().format_help()
    assert "--max-calls-per-second" in help_text
    assert "--max-concurrent-calls" in help_text
    args = ("--speed", "0.000001", "--max-calls-per-second", "5", "--max-concurrent-calls", "1")
    with simulator_process(*args, "--api-key", TEST_API_KEY) as running:
        base = running.base_url
        settings = requests.get(f"{base}/_sim/configure", timeout=5).json()
        assert (settings["max_calls_per_second"], settings["max_concurrent_calls"]) == (5, 1)
        headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
        body = {"agent_id": AGENT, "to_number": "+14155552010", "from_number": FROM}
        assert requests.post(f"{base}/v1/calls", json=body, headers=headers, timeout=5).status_code == 201
        refused = requests.post(f"{base}/v1/calls", json=body, headers=headers, timeout=5)
        assert (refused.status_code, refused.json()["code"]) == (429, "CONCURRENCY_LIMIT_REACHED")
        stats = requests.get(f"{base}/_sim/stats", timeout=5).json()
        assert stats["limits"]["refusals_by_code"] == {"CONCURRENCY_LIMIT_REACHED": 1}
