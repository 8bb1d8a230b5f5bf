"""The simulator follows the published API reference (issue 9): shapes, ids, quota, new endpoints, inbound."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from airflow_provider_oneinbox._compat import datetime_fromisoformat
from airflow_provider_oneinbox.simulator import SEED_AGENT_IDS, OneInboxSimulator, SimOptions
from airflow_provider_oneinbox.simulator.record import CALL_FIELDS
from tests.conftest import TEST_API_KEY
from tests.helpers.simulator_api import (
    FROZEN,
    MISSING,
    REPO,
    UNPROCESSED,
    api,
    create_call,
    get_call,
    is_uuid,
    wait_for,
)
from tests.helpers.simulator_cli import simulator_process

#: The reference's call record (oneinbox-api.md, "The call record").
REFERENCE_FIELDS = set(
    [
        "id",
        "agent_id",
        "type",
        "direction",
        "status",
        "from_number",
        "to_number",
        "scheduled_at",
        "variables",
        "metadata",
        "started_at",
        "ended_at",
        "duration_seconds",
        "end_reason",
        "transcript",
        "messages",
        "analysis",
        "outcome",
        "ai_summary",
        "recording_url",
        "latency",
        "cost_cents",
        "credits_used",
        "twilio_call_sid",
        "created_at",
        "updated_at",
    ]
)


def register(sim: OneInboxSimulator, phone_number: str, **body: Any) -> dict[str, Any]:
    response = api(sim, "POST", "/v1/phone-numbers", json={"phone_number": phone_number, **body})
    assert response.status_code == 201, response.text
    return response.json()


def calls(sim: OneInboxSimulator, **params: Any) -> list[dict[str, Any]]:
    response = api(sim, "GET", "/v1/calls", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# -- post-call shapes ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "unprocessed"), [("nulls", UNPROCESSED), ("empty", {}), ("null", None)], ids=str
)
def test_analysis_before_processing_has_the_configured_shape(
    frozen: OneInboxSimulator, shape: str, unprocessed: Any
) -> None:
    if shape != "nulls":
        frozen.configure(post_call_shape=shape)
    call = create_call(frozen)
    frozen.advance(5)  # live
    live = get_call(frozen, call["id"])
    frozen.advance(18)  # ended, not yet processed
    ended = get_call(frozen, call["id"])
    frozen.advance(3)
    done = get_call(frozen, call["id"])

    for record in (call, live, ended):
        assert record["analysis"] == unprocessed
        assert (record["messages"], record["transcript"], record["ai_summary"]) == ([], None, None)
    assert (live["status"], ended["status"]) == ("in_progress", "completed")
    assert done["analysis"] == {"outcome": "Interested", "summary": done["ai_summary"]}
    assert done["messages"]
    assert set(done) == set(call) == REFERENCE_FIELDS == set(CALL_FIELDS)


def test_default_shape_is_the_object_with_nulls(frozen: OneInboxSimulator) -> None:
    assert SimOptions().post_call_shape == "nulls"
    assert frozen.options.post_call_shape == "nulls"
    listed = api(frozen, "GET", "/v1/calls/cursor").json()["items"]
    assert listed == []
    create_call(frozen)
    (item,) = api(frozen, "GET", "/v1/calls/cursor").json()["items"]
    assert item["analysis"] == UNPROCESSED  # lists carry the same shape as GET


def test_transcript_shapes(frozen: OneInboxSimulator) -> None:
    string_call = create_call(frozen, variables={"customer_name": "Ana"})
    frozen.advance(100)
    as_string = get_call(frozen, string_call["id"])
    assert isinstance(as_string["transcript"], str)
    assert as_string["transcript"].startswith("agent: Hi Ana!")

    frozen.configure(transcript_shape="list")
    as_list = get_call(frozen, string_call["id"])
    assert as_list["transcript"] == as_list["messages"]
    assert as_list["transcript"][0] == {"role": "agent", "content": "Hi Ana! This is Aria from Acme."}


def test_scenario_08_never_gets_post_call_data(frozen: OneInboxSimulator) -> None:
    call = create_call(frozen, to_number="+14155551208")
    frozen.advance(3600)
    done = get_call(frozen, call["id"])
    assert (done["status"], done["ended_at"] is not None) == ("completed", True)
    assert done["messages"] == []
    assert done["analysis"] == UNPROCESSED
    assert (done["transcript"], done["ai_summary"], done["outcome"], done["recording_url"]) == (None,) * 4
    frozen.configure(post_call_shape="empty")
    assert get_call(frozen, call["id"])["analysis"] == {}


def test_scenario_09_is_analysed_but_its_outcome_stays_null(frozen: OneInboxSimulator) -> None:
    call = create_call(frozen, to_number="+14155551209")
    frozen.advance(3600)
    done = get_call(frozen, call["id"])
    assert done["status"] == "completed"
    assert done["messages"]
    assert done["transcript"]
    assert done["analysis"]["outcome"] is None
    assert done["analysis"]["summary"] == done["ai_summary"] is not None


def test_scenario_04_is_summarised_after_the_analysis_delay(frozen: OneInboxSimulator) -> None:
    call = create_call(frozen, to_number="+14155551204")
    frozen.advance(3.5)
    failed = get_call(frozen, call["id"])
    assert (failed["status"], failed["analysis"], failed["messages"]) == ("failed", UNPROCESSED, [])
    frozen.advance(3)
    analysed = get_call(frozen, call["id"])
    assert analysed["analysis"] == {"outcome": None, "summary": "The call could not be connected."}
    assert analysed["messages"] == []


# -- ids -----------------------------------------------------------------------------------------
MALFORMED_PATHS = [
    ("GET", "/v1/calls/{}", "call_id"),
    ("POST", "/v1/calls/{}/stop", "call_id"),
    ("PATCH", "/v1/calls/{}", "call_id"),
    ("GET", "/v1/phone-numbers/{}", "phone_id"),
    ("PATCH", "/v1/phone-numbers/{}", "phone_id"),
    ("GET", "/v1/phone-numbers/{}/inbound-routing", "phone_id"),
    ("POST", "/v1/phone-numbers/{}/inbound-routing", "phone_id"),
    ("PATCH", "/v1/webhooks/{}", "webhook_id"),
    ("DELETE", "/v1/webhooks/{}", "webhook_id"),
    ("POST", "/v1/webhooks/{}/test", "webhook_id"),
    ("GET", "/v1/webhooks/{}/deliveries", "webhook_id"),
    ("GET", "/v1/credentials/{}", "credential_id"),
    ("GET", "/v1/integrations/{}", "credential_id"),
    ("PATCH", "/v1/workspace/call-outcomes/{}", "outcome_id"),
]
BODIES = {"PATCH": {"outcome": "x", "name": "x"}, "POST": {"agent_id": "agt_sales"}}


@pytest.mark.parametrize(("method", "template", "field"), MALFORMED_PATHS, ids=lambda v: str(v))
def test_malformed_path_id_is_fastapi_422_and_missing_uuid_is_404(
    sim: OneInboxSimulator, method: str, template: str, field: str
) -> None:
    body = BODIES.get(method)
    response = api(sim, method, template.format("call_nope"), json=body)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["path", field], "uuid_parsing")
    assert error["msg"].startswith("Input should be a valid UUID")
    assert api(sim, method, template.format(MISSING), json=body).status_code == 404


def test_uuid_ids_everywhere_but_the_seeded_agents(sim: OneInboxSimulator) -> None:
    credential = api(
        sim, "POST", "/v1/integrations", json={"name": "t", "provider": "twilio", "api_key": "k"}
    )
    number = register(sim, "+15739690011", agent_id="agt_sales", credential_id=credential.json()["id"])
    webhook = api(
        sim,
        "POST",
        "/v1/webhooks",
        json={"name": "h", "url": "http://127.0.0.1:9/h", "events": ["call.ended"]},
    )
    outcome = api(sim, "POST", "/v1/workspace/call-outcomes", json={"name": "Callback"})
    agent = api(sim, "POST", "/v1/agents", json={"name": "Bot"})
    ids = [create_call(sim)["id"], number["id"], credential.json()["id"], webhook.json()["id"]]
    ids += [outcome.json()["id"], agent.json()["id"]]
    assert all(is_uuid(i) for i in ids), ids
    agents = api(sim, "GET", "/v1/agents").json()["items"]
    assert [a["id"] for a in agents[:3]] == list(SEED_AGENT_IDS) == ["agt_sales", "agt_support", "agt_survey"]
    assert api(sim, "GET", "/v1/agents/agt_sales").status_code == 200  # agent ids are not UUID-checked


def test_prefixed_ids_and_404_for_any_unknown_id(sim: OneInboxSimulator) -> None:
    sim.configure(id_style="prefixed")
    call = create_call(sim)
    number = register(sim, "+15739690012", agent_id="agt_sales")
    webhook = api(
        sim,
        "POST",
        "/v1/webhooks",
        json={"name": "h", "url": "http://127.0.0.1:9/h", "events": ["call.ended"]},
    )
    credential = api(sim, "POST", "/v1/credentials", json={"name": "t", "provider": "twilio", "api_key": "k"})
    assert call["id"].startswith("call_")
    assert number["id"].startswith("phn_")
    assert webhook.json()["id"].startswith("wh_")
    assert credential.json()["id"].startswith("crd_")
    for path in ("/v1/calls/call_nope", "/v1/phone-numbers/phn_nope", "/v1/integrations/crd_nope"):
        assert api(sim, "GET", path).status_code == 404


# -- usage and quota -----------------------------------------------------------------------------
def seconds_to_midnight(sim: OneInboxSimulator) -> float:
    now = datetime_fromisoformat(sim.stats()["sim_time"])
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), now.tzinfo)
    return (midnight - now).total_seconds()


def test_usage_reports_the_day_and_the_month(frozen: OneInboxSimulator) -> None:
    sim = frozen
    if seconds_to_midnight(sim) < 600:  # keep the whole test inside one simulated day
        sim.advance(seconds_to_midnight(sim) + 1)
    unlimited = api(sim, "GET", "/v1/usage").json()
    assert (unlimited["calls_made_today"], unlimited["max_calls_per_day"]) == (0, None)
    assert unlimited["calls_remaining_today"] is None
    create_call(sim, to_number="+14155551201")  # 30 s
    create_call(sim, to_number="+14155551207")  # 12 s
    sim.configure(max_calls_per_day=5)
    sim.advance(60)
    usage = api(sim, "GET", "/v1/usage").json()
    assert usage["calls_made_today"] == 2
    assert (usage["max_calls_per_day"], usage["calls_remaining_today"]) == (5, 3)
    assert usage["calls_this_month"] == 2
    assert usage["minutes_used_this_month"] == round(42 / 60, 2)
    assert usage["cost_cents_this_month"] == 18
    period = datetime_fromisoformat(usage["period_start"])
    assert (period.day, period.hour, period.minute) == (1, 0, 0)


@pytest.mark.parametrize("status", [429, 403])
def test_create_past_the_quota_is_refused_until_midnight(frozen: OneInboxSimulator, status: int) -> None:
    sim = frozen
    sim.configure(max_calls_per_day=2, quota_refusal_status=status)
    create_call(sim)
    create_call(sim)
    body = {"agent_id": "agt_sales", "to_number": "+14155551000", "from_number": "+14157770000"}
    refused = api(sim, "POST", "/v1/calls", json=body)
    assert refused.status_code == status
    assert refused.json()["code"] == "DAILY_CALL_LIMIT_REACHED"
    assert refused.json()["detail"]
    wait = seconds_to_midnight(sim)
    if status == 429:
        assert abs(int(refused.headers["Retry-After"]) - math.ceil(wait)) <= 1
    else:
        assert "Retry-After" not in refused.headers
    assert sim.calls_created() == 2
    assert api(sim, "GET", "/v1/usage").json()["calls_remaining_today"] == 0

    sim.advance(wait + 1)  # the next simulated day
    assert api(sim, "POST", "/v1/calls", json=body).status_code == 201
    assert api(sim, "GET", "/v1/usage").json()["calls_made_today"] == 1


# -- stop, voices --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("to_number", "wait"), [("+14155551000", 100), ("+14155551004", 100), ("+14155551000", 23)]
)
def test_stop_on_an_ended_call_is_a_no_op(frozen: OneInboxSimulator, to_number: str, wait: float) -> None:
    call = create_call(frozen, to_number=to_number)
    frozen.advance(wait)
    before = get_call(frozen, call["id"])
    assert before["status"] in {"completed", "failed"}
    stopped = api(frozen, "POST", f"/v1/calls/{call['id']}/stop")
    assert stopped.status_code == 200
    assert stopped.json() == before
    assert stopped.json()["end_reason"] != "api_stop"


def test_unknown_voice_is_400_with_a_code(sim: OneInboxSimulator) -> None:
    body = {"agent_id": "agt_sales", "to_number": "+14155551000", "from_number": "+14157770000"}
    unknown = {**body, "overrides": {"tts": {"voice_id": "voice_does_not_exist"}}}
    response = api(sim, "POST", "/v1/calls", json=unknown)
    assert response.status_code == 400
    assert response.json()["code"] == "VOICE_NOT_FOUND"
    assert "voice_does_not_exist" in response.json()["detail"]
    assert sim.calls_created() == 0
    known = {**body, "overrides": {"tts": {"voice_id": "voice_maya"}}}
    assert api(sim, "POST", "/v1/calls", json=known).status_code == 201


# -- call outcomes, integrations, inbound routing ------------------------------------------------
BUILT_INS = ["Appointment Booked", "Interested", "Not Interested", "Not Connected", "Voicemail"]


def test_call_outcomes_are_the_built_ins_plus_the_workspace_own(sim: OneInboxSimulator) -> None:
    listed = api(sim, "GET", "/v1/workspace/call-outcomes").json()["items"]
    assert [o["name"] for o in listed] == BUILT_INS
    created = api(sim, "POST", "/v1/workspace/call-outcomes", json={"name": "Callback Requested"})
    assert created.status_code == 201
    outcome = created.json()
    assert api(sim, "POST", "/v1/workspace/call-outcomes", json={"name": "interested"}).status_code == 409
    listed = api(sim, "GET", "/v1/workspace/call-outcomes").json()["items"]
    assert [o["name"] for o in listed] == [*BUILT_INS, "Callback Requested"]

    patch = {"name": "Call Back Later", "description": "asked to be called again"}
    patched = api(sim, "PATCH", f"/v1/workspace/call-outcomes/{outcome['id']}", json=patch)
    assert (patched.status_code, patched.json()["name"]) == (200, "Call Back Later")
    assert patched.json()["description"] == "asked to be called again"
    built_in = listed[0]["id"]
    refused = api(sim, "PATCH", f"/v1/workspace/call-outcomes/{built_in}", json={"name": "x"})
    assert refused.status_code == 400


def test_integrations_share_the_credential_store_and_mask_the_key(sim: OneInboxSimulator) -> None:
    secret = "tw_sk_0123456789abcdef"
    made = api(sim, "POST", "/v1/integrations", json={"name": "t", "provider": "twilio", "api_key": secret})
    assert made.status_code == 201
    old = api(sim, "POST", "/v1/credentials", json={"name": "o", "provider": "telnyx", "api_key": "short"})
    ids = {made.json()["id"], old.json()["id"]}
    assert {c["id"] for c in api(sim, "GET", "/v1/credentials").json()["items"]} == ids
    assert {c["id"] for c in api(sim, "GET", "/v1/integrations").json()["items"]} == ids
    one = api(sim, "GET", f"/v1/integrations/{made.json()['id']}")
    assert one.json()["masked_key"].endswith("cdef")
    assert api(sim, "GET", f"/v1/credentials/{old.json()['id']}").json()["masked_key"] == "****"
    everything = made.text + old.text + one.text + api(sim, "GET", "/v1/integrations").text
    assert secret not in everything
    assert "short" not in everything


def test_inbound_routing_defaults_to_the_number_agent(sim: OneInboxSimulator) -> None:
    number = register(sim, "+15739690021", agent_id="agt_sales")
    path = f"/v1/phone-numbers/{number['id']}/inbound-routing"
    expected = {"agent_id": "agt_sales", "fallback": {"agent_id": None}, "voicemail_message": None}
    assert api(sim, "GET", path).json() == expected
    api(sim, "PATCH", f"/v1/phone-numbers/{number['id']}", json={"agent_id": "agt_support"})
    assert api(sim, "GET", path).json()["agent_id"] == "agt_support"

    routing = {"agent_id": "agt_survey", "fallback": {"agent_id": "agt_sales"}, "voicemail_message": "Bye"}
    set_ = api(sim, "POST", path, json=routing)
    assert (set_.status_code, set_.json()) == (200, routing)
    assert api(sim, "GET", path).json() == routing
    assert api(sim, "POST", path, json={"fallback": {"agent_id": "agt_nope"}}).status_code == 404


# -- webhook deliveries --------------------------------------------------------------------------
class StatusReceiver:
    """A webhook receiver on loopback answering ``status`` to every POST."""

    def __init__(self, status: int) -> None:
        self.events: list[dict[str, Any]] = []
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                events.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def failing_receiver() -> Iterator[StatusReceiver]:
    receiver = StatusReceiver(500)
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_webhook_deliveries_list_every_attempt(
    frozen: OneInboxSimulator, failing_receiver: StatusReceiver
) -> None:
    sim = frozen
    spec = {"name": "h", "url": failing_receiver.url, "events": ["call.started"]}
    hook = api(sim, "POST", "/v1/webhooks", json=spec).json()
    path = f"/v1/webhooks/{hook['id']}/deliveries"
    assert api(sim, "GET", path).json() == {"items": []}
    call = create_call(sim)

    def attempts(n: int) -> bool:
        return len(api(sim, "GET", path).json()["items"]) >= n

    wait_for(lambda: attempts(1))
    (first,) = api(sim, "GET", path).json()["items"]
    assert set(first) >= {
        "id",
        "event",
        "status",
        "attempt",
        "response_status",
        "next_retry_at",
        "created_at",
    }
    assert (first["event"], first["call_id"], first["attempt"]) == ("call.started", call["id"], 1)
    assert (first["status"], first["response_status"]) == ("retrying", 500)
    assert first["next_retry_at"] > first["created_at"]

    sim.advance(5)
    wait_for(lambda: attempts(2))
    sim.advance(30)
    wait_for(lambda: attempts(3))
    newest = api(sim, "GET", path).json()["items"]
    assert [d["attempt"] for d in newest] == [3, 2, 1]
    assert (newest[0]["status"], newest[0]["next_retry_at"]) == ("failed", None)
    assert len(failing_receiver.events) == 3


# -- inbound traffic -----------------------------------------------------------------------------
def test_no_inbound_traffic_by_default(frozen: OneInboxSimulator) -> None:
    register(frozen, "+15739690031", agent_id="agt_sales")
    frozen.advance(600)
    assert calls(frozen) == []


def test_inbound_calls_arrive_at_the_rate_and_live_like_outbound_ones(frozen: OneInboxSimulator) -> None:
    sim = frozen
    sim.configure(inbound_calls_per_minute=6)  # one every 10 simulated seconds per number
    routed = register(sim, "+15739690001", agent_id="agt_support")  # ends in 01: "Appointment Booked"
    fallback = register(sim, "+15739690002")
    api(
        sim,
        "POST",
        f"/v1/phone-numbers/{fallback['id']}/inbound-routing",
        json={"fallback": {"agent_id": "agt_survey"}},
    )
    register(sim, "+15739690003")  # no agent, no fallback: nobody answers, no call
    sim.advance(35)
    inbound = calls(sim)
    assert len(inbound) == 6
    assert {c["type"] for c in inbound} == {c["direction"] for c in inbound} == {"inbound"}
    to_routed = [c for c in inbound if c["to_number"] == routed["phone_number"]]
    to_fallback = [c for c in inbound if c["to_number"] == fallback["phone_number"]]
    assert (len(to_routed), len(to_fallback)) == (3, 3)
    assert {c["agent_id"] for c in to_routed} == {"agt_support"}
    assert {c["agent_id"] for c in to_fallback} == {"agt_survey"}
    assert [
        c["id"]
        for c in api(sim, "GET", "/v1/calls/cursor", params={"agent_id": "agt_survey"}).json()["items"]
    ] == [c["id"] for c in to_fallback]
    sim.configure(inbound_calls_per_minute=0)  # no more arrivals
    first = to_routed[-1]  # the oldest: arrived at 10 s, ends 32 s later ("01")
    assert first["status"] == "in_progress"
    sim.advance(8)
    ended = get_call(sim, first["id"])
    assert ended["status"] == "completed"
    assert (ended["analysis"], ended["messages"]) == (UNPROCESSED, [])
    sim.advance(3)
    done = get_call(sim, first["id"])
    assert done["analysis"]["outcome"] == "Appointment Booked"
    assert done["messages"]
    assert sim.stats()["inbound_calls"] == 6
    assert sim.calls_created() == 0  # POST /v1/calls only
    assert api(sim, "GET", "/v1/usage").json()["calls_made_today"] == 0


def test_inbound_callers_are_deterministic_and_sometimes_withheld(frozen: OneInboxSimulator) -> None:
    def run() -> list[str | None]:
        frozen.reset()
        frozen.configure(speed=FROZEN, inbound_calls_per_minute=60)
        register(frozen, "+15739690041", agent_id="agt_sales")
        frozen.advance(40.5)
        return [c["from_number"] for c in reversed(calls(frozen))]

    callers = run()
    assert len(callers) == 40
    assert callers == run()
    assert None in callers
    assert all(c is None or c.startswith("+1") for c in callers)


# -- options: constructor, configure, HTTP, reset, CLI -------------------------------------------
def test_constructor_options_are_what_reset_restores() -> None:
    built = SimOptions(id_style="prefixed", post_call_shape="empty", max_calls_per_day=1)
    with OneInboxSimulator(
        api_key=TEST_API_KEY, speed=FROZEN, id_style="prefixed", post_call_shape="empty", max_calls_per_day=1
    ) as sim:
        assert sim.options == built
        sim.configure(
            id_style="uuid", post_call_shape="null", max_calls_per_day=None, inbound_calls_per_minute=3
        )
        assert is_uuid(create_call(sim)["id"])
        assert create_call(sim)["analysis"] is None
        sim.reset()
        assert sim.options == built
        call = create_call(sim)
        assert (call["id"][:5], call["analysis"]) == ("call_", {})
        body = {"agent_id": "agt_sales", "to_number": "+14155551000", "from_number": "+14157770000"}
        assert api(sim, "POST", "/v1/calls", json=body).status_code == 429


def test_options_over_http(sim: OneInboxSimulator) -> None:
    base = sim.base_url
    changed = requests.post(
        f"{base}/_sim/configure", json={"post_call_shape": "empty", "max_calls_per_day": 3}, timeout=5
    ).json()
    assert (changed["post_call_shape"], changed["max_calls_per_day"], changed["id_style"]) == (
        "empty",
        3,
        "uuid",
    )
    assert create_call(sim)["analysis"] == {}
    lifted = requests.post(f"{base}/_sim/configure", json={"max_calls_per_day": None}, timeout=5).json()
    assert lifted["max_calls_per_day"] is None
    assert requests.get(f"{base}/_sim/configure", timeout=5).json() == lifted
    for bad in ({"post_call_shape": "maybe"}, {"quota_refusal_status": 500}, {"bogus": 1}):
        assert requests.post(f"{base}/_sim/configure", json=bad, timeout=5).status_code == 422
    assert sim.stats()["options"] == {name: lifted[name] for name in SimOptions.model_fields}
    sim.reset()
    assert sim.options == SimOptions()


def test_cli_flags_apply_the_options() -> None:
    args = ["--speed", "0.000001", "--id-style", "prefixed", "--post-call-shape", "null"]
    args += ["--transcript-shape", "list", "--max-calls-per-day", "1", "--quota-status", "403"]
    args += ["--inbound-per-minute", "2", "--api-key", TEST_API_KEY]
    with simulator_process(*args) as running:
        base = running.base_url
        settings = requests.get(f"{base}/_sim/configure", timeout=5).json()
        expected = {
            "id_style": "prefixed",
            "post_call_shape": "null",
            "transcript_shape": "list",
            "max_calls_per_day": 1,
            "quota_refusal_status": 403,
            "inbound_calls_per_minute": 2.0,
        }
        assert {k: settings[k] for k in expected} == expected
        headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
        body = {"agent_id": "agt_sales", "to_number": "+14155551000", "from_number": "+14157770000"}
        call = requests.post(f"{base}/v1/calls", json=body, headers=headers, timeout=5).json()
        assert (call["id"][:5], call["analysis"]) == ("call_", None)
        assert requests.post(f"{base}/v1/calls", json=body, headers=headers, timeout=5).status_code == 403


def test_cli_help_lists_the_options() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_oneinbox.simulator", "--help"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    for flag in (
        "--post-call-shape",
        "--transcript-shape",
        "--id-style",
        "--max-calls-per-day",
        "--quota-status",
        "--inbound-per-minute",
    ):
        assert flag in result.stdout
    assert "no_post_call" in result.stdout
    assert "outcome_null" in result.stdout
