"""The retry policy of OneInboxHook against injected faults: what is retried, how long, how often."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from structlog.testing import capture_logs

from airflow_provider_oneinbox.exceptions import (
    OneInboxRateLimitError,
    OneInboxServerError,
    OneInboxTimeoutError,
    OneInboxTransportError,
)
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.simulator import SEED_AGENT_IDS
from tests.conftest import use_simulator as _use
from tests.helpers.sockets import wait_until_listening

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

AGENT = SEED_AGENT_IDS[0]
FROM = "+14155550100"
CALLS = "/v1/calls"


def _creates(sim: OneInboxSimulator) -> list[dict[str, object]]:
    """The ``POST /v1/calls`` log entries; a dropped request is logged just after the client sees the drop."""
    deadline = time.monotonic() + 2
    while True:
        entries = [r for r in sim.requests(method="POST", path_prefix=CALLS) if r["path"] == CALLS]
        if entries or time.monotonic() > deadline:
            return entries
        time.sleep(0.01)


def test_hook_retries_429_after_retry_after(sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(sim, monkeypatch, retry_wait_max=2)
    sim.set_faults(rate_limit_burst=1, retry_after=1)
    started = time.monotonic()
    assert OneInboxHook().get_agent(AGENT)["id"] == AGENT
    assert time.monotonic() - started >= 1.0
    assert [r["status"] for r in sim.requests(path_prefix="/v1/agents")] == [429, 200]


def test_hook_caps_retry_after_at_retry_wait_max(sim: OneInboxSimulator) -> None:
    sim.set_faults(rate_limit_burst=1, retry_after=30)
    started = time.monotonic()
    assert OneInboxHook().get_agent(AGENT)["id"] == AGENT
    assert time.monotonic() - started < 5


def test_hook_rate_limit_budget_exhausted(sim: OneInboxSimulator) -> None:
    sim.set_faults(rate_limit_burst=10, retry_after=0)
    with pytest.raises(OneInboxRateLimitError) as info:
        OneInboxHook(max_retries=2).list_agents()
    assert info.value.retry_after == 0
    assert len(sim.requests(path_prefix="/v1/agents")) == 3


def test_hook_survives_5xx_burst_on_get_and_logs_each_retry(sim: OneInboxSimulator) -> None:
    sim.set_faults(server_error_burst=2)
    with capture_logs() as logs:
        assert OneInboxHook().get_agent(AGENT)["id"] == AGENT
    assert [r["status"] for r in sim.requests()] == [500, 500, 200]
    warnings = [entry["event"] for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == 2
    assert "GET /v1/agents/agt_sales failed with OneInboxServerError (500)" in warnings[0]
    assert "retrying in" in warnings[0]


def test_hook_retry_budget_respected(sim: OneInboxSimulator) -> None:
    sim.set_faults(server_error_burst=50)
    with pytest.raises(OneInboxServerError, match="500"):
        OneInboxHook().get_call("call_x")
    assert len(sim.requests()) == 1 + 3
    sim.reset()
    sim.set_faults(server_error_burst=50)
    with pytest.raises(OneInboxServerError):
        OneInboxHook(max_retries=0).get_call("call_x")
    assert len(sim.requests()) == 1


def test_hook_retries_dropped_connection_on_get(sim: OneInboxSimulator) -> None:
    sim.set_faults(drop_burst=2)
    assert OneInboxHook().list_calls()["total"] == 0
    assert sim.stats()["faults_injected"]["drop"] == 2
    assert len(sim.requests(path_prefix=CALLS)) == 3


def test_hook_repeats_stop_call_after_5xx(sim: OneInboxSimulator) -> None:
    hook = OneInboxHook()
    call = hook.create_call(AGENT, "+14155550120", FROM)
    sim.set_faults(server_error_burst=1, only_paths=[f"{CALLS}/{call['id']}/stop"])
    assert hook.stop_call(call["id"])["id"] == call["id"]
    assert len(sim.requests(method="POST", path_prefix=f"{CALLS}/{call['id']}/stop")) == 2


def test_hook_create_call_lost_response_not_retried(sim: OneInboxSimulator) -> None:
    to = "+14155550130"
    sim.set_faults(lose_create_response=1)
    with pytest.raises(OneInboxTransportError) as info:
        OneInboxHook().create_call(AGENT, to, FROM)
    assert info.value.request_sent is True
    assert "may have been placed" in str(info.value)
    assert "must not be blindly retried" in str(info.value)
    assert sim.calls_created(to) == 1
    assert sim.stats()["faults_injected"]["lost_create_response"] == 1
    assert len(_creates(sim)) == 1


def test_hook_create_call_5xx_not_retried(sim: OneInboxSimulator) -> None:
    to = "+14155550131"
    sim.set_faults(server_error_burst=3, only_methods=["POST"])
    with pytest.raises(OneInboxServerError, match="may have been placed") as info:
        OneInboxHook().create_call(AGENT, to, FROM)
    assert info.value.status_code == 500
    assert len(_creates(sim)) == 1


def test_hook_create_call_dropped_not_retried(sim: OneInboxSimulator) -> None:
    sim.set_faults(drop_burst=3, only_methods=["POST"])
    with pytest.raises(OneInboxTransportError, match="may have been placed"):
        OneInboxHook().create_call(AGENT, "+14155550132", FROM)
    assert sim.stats()["faults_injected"]["drop"] == 1
    assert len(_creates(sim)) == 1


def test_hook_create_call_timeout_not_retried(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(sim, monkeypatch, timeout=0.3)
    sim.set_faults(latency=1.0, only_methods=["POST"])
    with pytest.raises(OneInboxTimeoutError, match=r"did not complete within 0.3 s.*may have been placed"):
        OneInboxHook().create_call(AGENT, "+14155550133", FROM)
    time.sleep(0.8)  # the simulator finishes the request it was sent
    assert len(_creates(sim)) == 1


def test_hook_other_creates_not_retried_after_5xx(sim: OneInboxSimulator) -> None:
    hook = OneInboxHook()
    number = hook.register_phone_number("+14155550141", agent_id=AGENT)
    sim.set_faults(server_error_burst=10, only_methods=["POST"])
    attempts = [
        lambda: hook.create_webhook("w", "https://example.invalid/h", ["call.ended"]),
        lambda: hook.create_credential("c", "twilio", "carrier-key"),
        lambda: hook.create_integration("c", "twilio", "carrier-key"),
        lambda: hook.register_phone_number("+14155550140"),
        lambda: hook.purchase_phone_number(),
        lambda: hook.create_web_call(AGENT),
        lambda: hook.create_call_outcome("Callback Requested"),
        lambda: hook.set_inbound_routing(number["id"], AGENT),
    ]
    for attempt in attempts:
        with pytest.raises(OneInboxServerError, match="may have taken effect"):
            attempt()
    assert len(sim.requests(method="POST")) == 1 + len(attempts)


def test_hook_new_reads_and_patches_retried_after_5xx(sim: OneInboxSimulator) -> None:
    hook = OneInboxHook()
    number = hook.register_phone_number("+14155550142", agent_id=AGENT)
    webhook = hook.create_webhook("w", "https://example.invalid/h", ["call.ended"])
    outcome = hook.create_call_outcome("Callback Requested")
    reads = {
        "/v1/usage": hook.get_usage,
        "/v1/workspace/call-outcomes": hook.list_call_outcomes,
        f"/v1/workspace/call-outcomes/{outcome['id']}": lambda: hook.update_call_outcome_definition(
            outcome["id"], description="later"
        ),
        "/v1/integrations": hook.list_integrations,
        f"/v1/phone-numbers/{number['id']}/inbound-routing": lambda: hook.get_inbound_routing(number["id"]),
        f"/v1/webhooks/{webhook['id']}/deliveries": lambda: hook.list_webhook_deliveries(webhook["id"]),
    }
    for path, read in reads.items():
        sim.set_faults(server_error_burst=1, only_paths=[path], only_methods=["GET", "PATCH"])
        read()
        assert [r["status"] for r in sim.requests(path_prefix=path) if r["path"] == path][-2:] == [
            500,
            200,
        ], path
        sim.clear_faults()


def test_hook_create_call_retried_after_429(sim: OneInboxSimulator) -> None:
    to = "+14155550150"
    sim.set_faults(rate_limit_burst=2, retry_after=0.05)
    assert OneInboxHook().create_call(AGENT, to, FROM)["to_number"] == to
    assert [r["status"] for r in _creates(sim)] == [429, 429, 201]
    assert sim.calls_created(to) == 1


def test_hook_create_call_retried_after_refused_connect(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    to = "+14155550160"
    _use(sim, monkeypatch, max_retries=10, retry_wait_min=0.1, retry_wait_max=0.2)
    hook = OneInboxHook()
    sim.refuse_connections(0.6)
    started = time.monotonic()
    assert hook.create_call(AGENT, to, FROM)["to_number"] == to
    assert time.monotonic() - started >= 0.4
    assert sim.calls_created(to) == 1
    assert len(_creates(sim)) == 1
    wait_until_listening(sim)


def test_hook_refused_connection_is_transport_error(sim: OneInboxSimulator) -> None:
    sim.refuse_connections(1)
    with pytest.raises(OneInboxTransportError, match="not sent") as info:
        OneInboxHook(max_retries=1).get_agent(AGENT)
    assert info.value.request_sent is False
    assert info.value.transient is True
    wait_until_listening(sim)


def test_retry_pauses_are_the_providers_one_backoff_rule() -> None:
    """Jittered ``backoff_delay`` from ``retry_wait_min`` to ``retry_wait_max``; a Retry-After is a floor."""
    from airflow_provider_oneinbox.exceptions import OneInboxConnectError
    from airflow_provider_oneinbox.hooks.retry import CONNECT_RETRY_WAIT_MAX, retry_pause
    from airflow_provider_oneinbox.hooks.settings import OneInboxSettings

    settings = OneInboxSettings(
        conn_id="c", base_url="https://api.example.com", api_key="k", retry_wait_min=1.0, retry_wait_max=10.0
    )
    for failures, most in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 10.0)):
        pauses = [retry_pause(settings, OneInboxServerError("x"), failures) for _ in range(200)]
        assert min(pauses) >= 1.0, failures
        assert max(pauses) <= most, failures
        assert failures == 1 or len(set(pauses)) > 1, "jittered"
    asked = OneInboxRateLimitError("x", retry_after=7.0)
    assert all(7.0 <= retry_pause(settings, asked, 1) <= 10.0 for _ in range(50))
    assert retry_pause(settings, OneInboxRateLimitError("x", retry_after=300.0), 1) == 10.0
    refused = OneInboxConnectError("x")
    assert all(retry_pause(settings, refused, 9) <= CONNECT_RETRY_WAIT_MAX for _ in range(50))
