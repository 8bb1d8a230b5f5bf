"""Both hooks against the simulator: quota, call outcomes, integrations, inbound routing, deliveries."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_oneinbox.exceptions import (
    OneInboxInputError,
    OneInboxQuotaExceededError,
    OneInboxRateLimitError,
)
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook
from airflow_provider_oneinbox.simulator import SEED_AGENT_IDS, OneInboxSimulator
from tests.helpers.loopback import LoopbackServer, Reply

AGENT, OTHER_AGENT, THIRD_AGENT = SEED_AGENT_IDS[:3]
FROM = "+14155550100"
BUILT_IN_OUTCOMES = {"Appointment Booked", "Interested", "Not Interested", "Not Connected", "Voicemail"}


def test_usage_counts_todays_calls_against_the_quota(sim: OneInboxSimulator) -> None:
    sim.configure(max_calls_per_day=3)
    hook = OneInboxHook()
    for i in range(2):
        hook.create_call(AGENT, f"+1415555030{i}", FROM)
    usage = hook.get_usage()
    assert (usage["calls_made_today"], usage["max_calls_per_day"], usage["calls_remaining_today"]) == (
        2,
        3,
        1,
    )
    assert asyncio.run(OneInboxAsyncHook().get_usage())["calls_remaining_today"] == 1
    assert [r["path"] for r in sim.requests(method="GET")] == ["/v1/usage", "/v1/usage"]


# A 403 with the quota's code is the quota error too, not a bad key (OneInboxQuotaExceededError).
@pytest.mark.parametrize(
    ("status", "cls"), [(429, OneInboxRateLimitError), (403, OneInboxQuotaExceededError)]
)
def test_create_past_the_quota_carries_the_apis_code(
    sim: OneInboxSimulator, status: int, cls: type[Exception]
) -> None:
    sim.configure(max_calls_per_day=1, quota_refusal_status=status)
    hook = OneInboxHook(max_retries=0)
    hook.create_call(AGENT, "+14155550310", FROM)
    with pytest.raises(cls) as info:
        hook.create_call(AGENT, "+14155550311", FROM)
    assert info.value.code == "DAILY_CALL_LIMIT_REACHED"  # type: ignore[attr-defined]
    assert f"failed with {status} (code DAILY_CALL_LIMIT_REACHED)" in str(info.value)
    assert hook.get_usage()["calls_remaining_today"] == 0


def test_call_outcomes_of_the_workspace(sim: OneInboxSimulator) -> None:
    hook = OneInboxHook()
    assert {outcome["name"] for outcome in hook.list_call_outcomes()} >= BUILT_IN_OUTCOMES
    created = hook.create_call_outcome(
        "Callback Requested", description="The customer asked to be called back"
    )
    assert created["name"] == "Callback Requested"
    assert "Callback Requested" in {outcome["name"] for outcome in hook.list_call_outcomes()}
    updated = hook.update_call_outcome_definition(created["id"], description="Call back within a day")
    assert (updated["id"], updated["description"]) == (created["id"], "Call back within a day")
    [patch] = sim.requests(method="PATCH")
    assert patch["path"] == f"/v1/workspace/call-outcomes/{created['id']}"
    with pytest.raises(OneInboxInputError, match="at least one"):
        hook.update_call_outcome_definition(created["id"])


def test_integrations_beside_credentials(sim: OneInboxSimulator) -> None:
    hook = OneInboxHook()
    carrier_key = "carrier-key-0123456789abcdef"
    created = hook.create_integration("main", "telnyx", carrier_key)
    assert (created["name"], created["provider"]) == ("main", "telnyx")
    assert carrier_key not in repr(created)
    assert [i["id"] for i in hook.list_integrations()] == [created["id"]]
    fetched = hook.get_integration(created["id"])
    assert fetched["id"] == created["id"]
    assert fetched["masked_key"]
    assert carrier_key not in fetched["masked_key"]
    assert {r["path"] for r in sim.requests(path_prefix="/v1/integrations")} == {
        "/v1/integrations",
        f"/v1/integrations/{created['id']}",
    }


def test_inbound_routing_of_a_number(sim: OneInboxSimulator) -> None:
    hook = OneInboxHook()
    number = hook.register_phone_number("+14155550320", agent_id=AGENT)
    assert hook.get_inbound_routing(number["id"])["agent_id"] == AGENT  # by default, the number's agent
    routing = hook.set_inbound_routing(
        number["id"], OTHER_AGENT, fallback_agent_id=THIRD_AGENT, voicemail_message="Leave a message"
    )
    expected = {
        "agent_id": OTHER_AGENT,
        "fallback": {"agent_id": THIRD_AGENT},
        "voicemail_message": "Leave a message",
    }
    assert {key: routing[key] for key in expected} == expected
    read = asyncio.run(OneInboxAsyncHook().get_inbound_routing(number["id"]))
    assert {key: read[key] for key in expected} == expected
    [post] = [r for r in sim.requests(method="POST") if r["path"].endswith("/inbound-routing")]
    assert post["path"] == f"/v1/phone-numbers/{number['id']}/inbound-routing"


def _wait_for(condition: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)
    return value


def test_webhook_deliveries(sim: OneInboxSimulator) -> None:
    with LoopbackServer({("POST", "/hook"): Reply(200, {"ok": True})}) as receiver:
        hook = OneInboxHook()
        webhook = hook.create_webhook("ops", f"{receiver.base_url}/hook", ["call.ended"])
        assert hook.list_webhook_deliveries(webhook["id"]) == []
        hook.test_webhook(webhook["id"])
        deliveries = _wait_for(lambda: hook.list_webhook_deliveries(webhook["id"], limit=10))
        assert _wait_for(lambda: receiver.requests("POST", "/hook"))
    assert {"status", "attempt", "response_status"} <= set(deliveries[0])
    from_async = asyncio.run(OneInboxAsyncHook().list_webhook_deliveries(webhook["id"]))
    assert [d.get("id") for d in from_async] == [
        d.get("id") for d in hook.list_webhook_deliveries(webhook["id"])
    ]
    assert any(r["path"] == f"/v1/webhooks/{webhook['id']}/deliveries" for r in sim.requests(method="GET"))


def test_stopping_an_ended_call_is_a_no_op(sim: OneInboxSimulator) -> None:
    hook = OneInboxHook()
    call = hook.create_call(AGENT, "+14155550330", FROM)
    first = hook.stop_call(call["id"])
    assert first["status"] in ("completed", "failed")
    again = hook.stop_call(call["id"])
    from_async = asyncio.run(OneInboxAsyncHook().stop_call(call["id"]))
    assert again["id"] == from_async["id"] == call["id"]
    assert again["status"] == from_async["status"] == first["status"]
    assert again.get("end_reason") == first.get("end_reason")
    stops = sim.requests(method="POST", path_prefix=f"/v1/calls/{call['id']}/stop")
    assert [r["status"] for r in stops] == [200, 200, 200]
