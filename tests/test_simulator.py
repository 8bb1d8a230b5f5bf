"""The bundled OneInbox simulator, over real loopback sockets."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp
import pytest
import requests

import airflow_provider_oneinbox.simulator as simulator_pkg
from airflow_provider_oneinbox._compat import datetime_fromisoformat
from airflow_provider_oneinbox.simulator import (
    DEFAULT_API_KEY,
    SCENARIOS,
    SEED_AGENT_IDS,
    OneInboxSimulator,
    scenario_for,
)
from airflow_provider_oneinbox.simulator.scenarios import scenarios_table
from tests.conftest import TEST_API_KEY
from tests.helpers.simulator_api import (
    AUTH,
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


class Receiver:
    """A tiny webhook receiver on loopback that records every POST."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.raw: list[bytes] = []
        received, raw = self.events, self.raw

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                raw.append(body)
                received.append((self.path, json.loads(body), dict(self.headers)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def names(self, path: str) -> list[str]:
        return [body["event"] for p, body, _ in self.events if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


# -- public surface ------------------------------------------------------------------------------
def test_public_constants_and_scenario_choice() -> None:
    assert DEFAULT_API_KEY == "oi_sk_simulator"
    assert {"agt_sales", "agt_support", "agt_survey"} <= set(SEED_AGENT_IDS)
    assert scenario_for("+14155550001").name == "booked"
    assert scenario_for("+14155550006").name == "unknown_status"
    assert scenario_for("+14155550099") is SCENARIOS["default"]
    suffixes = {spec.suffix for spec in SCENARIOS.values()}
    assert suffixes == {"01", "02", "03", "04", "05", "06", "07", "08", "09", None}


def test_package_docstring_shows_the_scenarios_table() -> None:
    assert scenarios_table() in (simulator_pkg.__doc__ or "")


# -- auth and error shapes -----------------------------------------------------------------------
def test_missing_or_wrong_key_is_401(sim: OneInboxSimulator) -> None:
    for headers in ({}, {"Authorization": "Bearer oi_sk_wrong"}, {"Authorization": TEST_API_KEY}):
        response = requests.get(f"{sim.base_url}/v1/agents", headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid API key"}
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert requests.get(f"{sim.base_url}/_sim/stats", timeout=5).status_code == 200
    assert api(sim, "GET", "/v1/agents").status_code == 200
    assert sim.stats()["requests_by_route"]["GET /v1/agents"] == 4


def test_404_409_and_422_shapes(sim: OneInboxSimulator) -> None:
    assert api(sim, "GET", f"/v1/calls/{MISSING}").json() == {"detail": "Call not found"}
    assert api(sim, "GET", f"/v1/calls/{MISSING}").status_code == 404
    body = {"agent_id": "agt_nope", "to_number": "+14155551000", "from_number": "+14157770000"}
    response = api(sim, "POST", "/v1/calls", json=body)
    assert (response.status_code, response.json()) == (404, {"detail": "Agent not found"})

    response = api(
        sim, "POST", "/v1/calls", json={**body, "agent_id": "agt_sales", "to_number": "5550001000"}
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "to_number"]
    assert error["msg"]
    assert error["type"]

    response = api(sim, "GET", "/v1/calls", params={"limit": 101})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]

    number = {"phone_number": "+15739693824", "agent_id": "agt_sales"}
    assert api(sim, "POST", "/v1/phone-numbers", json=number).status_code == 201
    response = api(sim, "POST", "/v1/phone-numbers", json=number)
    assert response.status_code == 409
    assert response.json() == {"detail": "Phone number +15739693824 is already registered"}
    response = api(sim, "POST", "/v1/phone-numbers", json={"phone_number": "+15739693825", "agent_id": "x"})
    assert response.status_code == 404


# -- lifecycle -----------------------------------------------------------------------------------
def test_lifecycle_post_call_data_arrives_after_the_end(frozen: OneInboxSimulator) -> None:
    sim = frozen
    call = create_call(sim, variables={"customer_name": "Sama"}, metadata={"crm": {"id": 7}, "tags": ["a"]})
    assert is_uuid(call["id"])
    assert call["status"] == "initiated"
    for field in ("transcript", "recording_url", "duration_seconds", "ai_summary", "outcome"):
        assert call[field] is None
    assert call["analysis"] == UNPROCESSED
    assert call["messages"] == []
    assert call["metadata"] == {"crm": {"id": 7}, "tags": ["a"]}

    sim.advance(3)
    assert get_call(sim, call["id"])["status"] == "in_progress"
    sim.advance(20)  # the default scenario ends 22 s after dialling
    ended = get_call(sim, call["id"])
    assert ended["status"] == "completed"
    assert ended["ended_at"] is not None
    assert ended["analysis"] == UNPROCESSED
    assert ended["messages"] == []
    assert ended["transcript"] is None
    assert ended["duration_seconds"] is None

    sim.advance(3)  # analysis_delay
    done = get_call(sim, call["id"])
    assert done["analysis"] == {"outcome": "Interested", "summary": done["ai_summary"]}
    assert done["outcome"] == "Interested"
    assert done["duration_seconds"] == 20
    assert done["end_reason"] == "agent_hangup"
    assert done["recording_url"].startswith(f"{frozen.base_url}/_recordings/")
    assert done["messages"][0] == {"role": "agent", "content": "Hi Sama! This is Aria from Acme."}
    assert "Sama" in done["transcript"]
    assert done["metadata"] == call["metadata"]
    assert done["updated_at"] > call["updated_at"]


def test_scheduled_call_is_queued_until_due(frozen: OneInboxSimulator) -> None:
    sim = frozen
    sim_now = datetime_fromisoformat(sim.stats()["sim_time"])
    when = (sim_now + timedelta(minutes=5)).isoformat()
    call = create_call(sim, scheduled_at=when)
    assert call["status"] == "queued"
    assert call["scheduled_at"] is not None
    sim.advance(301)
    assert get_call(sim, call["id"])["status"] == "initiated"


EXPECTED = {  # suffix: (final status, outcome, end_reason, duration, has messages)
    "01": ("completed", "Appointment Booked", "agent_hangup", 30, True),
    "02": ("completed", "Not Connected", "no_answer", 0, False),
    "03": ("completed", "Voicemail", "voicemail", 15, True),
    "04": ("failed", None, "carrier_error", 0, False),
    "05": ("completed", "Interested", "max_duration", 600, True),
    "06": ("completed", "Interested", "agent_hangup", 20, True),
    "07": ("completed", "Not Interested", "user_hangup", 12, True),
    "08": ("completed", None, "agent_hangup", 20, False),
    "09": ("completed", None, "user_hangup", 8, True),
    "99": ("completed", "Interested", "agent_hangup", 20, True),
}


@pytest.mark.parametrize("suffix", sorted(EXPECTED))
def test_scenarios(frozen: OneInboxSimulator, suffix: str) -> None:
    status, outcome, end_reason, duration, has_messages = EXPECTED[suffix]
    call = create_call(frozen, to_number=f"+141555512{suffix}")
    frozen.advance(1000)
    done = get_call(frozen, call["id"])
    assert (done["status"], done["outcome"], done["end_reason"]) == (status, outcome, end_reason)
    assert done["duration_seconds"] == duration
    assert bool(done["messages"]) is has_messages
    if suffix == "08":  # no post-call data, ever
        assert done["analysis"] == UNPROCESSED
        assert (done["transcript"], done["ai_summary"], done["recording_url"]) == (None, None, None)
    else:
        assert done["analysis"]["outcome"] == outcome
        assert done["analysis"]["summary"]


def test_unknown_status_scenario_reports_ringing(frozen: OneInboxSimulator) -> None:
    call = create_call(frozen, to_number="+14155550006")
    frozen.advance(3)
    assert get_call(frozen, call["id"])["status"] == "ringing"
    frozen.advance(5)
    assert get_call(frozen, call["id"])["status"] == "in_progress"


def test_failed_call_fails_after_a_few_seconds(frozen: OneInboxSimulator) -> None:
    call = create_call(frozen, to_number="+14155550004")
    frozen.advance(2)
    assert get_call(frozen, call["id"])["status"] == "initiated"
    frozen.advance(2)
    assert get_call(frozen, call["id"])["status"] == "failed"


def test_real_clock_runs_at_speed(sim: OneInboxSimulator) -> None:
    call = create_call(sim, to_number="+14155550004")  # fails 3 simulated s = 0.15 real s at speed 20
    wait_for(lambda: get_call(sim, call["id"])["status"] == "failed", timeout=3)


# -- stop, outcome, listing ----------------------------------------------------------------------
def test_stop_ends_a_live_call_and_is_idempotent(frozen: OneInboxSimulator) -> None:
    call = create_call(frozen, to_number="+14155550005")
    frozen.advance(10)
    stopped = api(frozen, "POST", f"/v1/calls/{call['id']}/stop").json()
    assert stopped["status"] == "completed"
    assert stopped["ended_at"] is not None
    frozen.advance(5)
    again = api(frozen, "POST", f"/v1/calls/{call['id']}/stop").json()
    assert again["ended_at"] == stopped["ended_at"]
    assert again["end_reason"] == "api_stop"
    assert again["duration_seconds"] == 8
    assert api(frozen, "POST", f"/v1/calls/{MISSING}/stop").status_code == 404


def test_patch_outcome_is_title_case(frozen: OneInboxSimulator) -> None:
    call = create_call(frozen)
    frozen.advance(100)
    patched = api(frozen, "PATCH", f"/v1/calls/{call['id']}", json={"outcome": "callback REQUESTED"}).json()
    assert patched["outcome"] == "Callback Requested"
    assert patched["analysis"]["outcome"] == "Callback Requested"
    assert api(frozen, "PATCH", f"/v1/calls/{call['id']}", json={}).status_code == 422


def test_offset_and_cursor_lists_newest_first(frozen: OneInboxSimulator) -> None:
    sim = frozen
    ids = [create_call(sim, metadata={"n": i})["id"] for i in range(5)]
    other = create_call(sim, agent_id="agt_support", to_number="+14155550004")["id"]
    page = api(sim, "GET", "/v1/calls", params={"agent_id": "agt_sales", "limit": 2, "offset": 1}).json()
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)
    assert [c["id"] for c in page["items"]] == [ids[3], ids[2]]
    assert api(sim, "GET", "/v1/calls").json()["items"][0]["id"] == other

    seen, cursor = [], None
    while True:
        params = {"agent_id": "agt_sales", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api(sim, "GET", "/v1/calls/cursor", params=params).json()
        seen += [c["id"] for c in page["items"]]
        assert page["limit"] == 2
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert seen == ids[::-1]

    sim.advance(4)  # the call to ...04 has failed, the others are in progress
    failed = api(sim, "GET", "/v1/calls", params={"status": "failed"}).json()
    assert [c["id"] for c in failed["items"]] == [other]
    assert failed["total"] == 1
    assert api(sim, "GET", "/v1/calls/cursor", params={"cursor": "bogus!"}).status_code == 400


def test_web_call(sim: OneInboxSimulator) -> None:
    response = api(sim, "POST", "/v1/calls/web", json={"agent_id": "agt_support", "metadata": {"k": "v"}})
    assert response.status_code == 201
    body = response.json()
    assert body["participant_token"]
    assert body["server_url"].startswith("wss://")
    assert get_call(sim, body["id"])["type"] == "web"
    assert sim.calls_created() == 0  # only POST /v1/calls counts


# -- account resources ---------------------------------------------------------------------------
def test_agents_credentials_and_numbers(sim: OneInboxSimulator) -> None:
    agents = api(sim, "GET", "/v1/agents", params={"limit": 2}).json()
    assert agents["total"] == len(SEED_AGENT_IDS)
    assert len(agents["items"]) == 2
    assert api(sim, "GET", "/v1/agents/agt_survey").json()["language"]
    created = api(sim, "POST", "/v1/agents", json={"name": "Bot"})
    assert created.status_code == 201
    assert is_uuid(created.json()["id"])

    secret = "provider-secret-123"
    cred = api(sim, "POST", "/v1/credentials", json={"name": "c", "provider": "twilio", "api_key": secret})
    assert cred.status_code == 201
    assert is_uuid(cred.json()["id"])
    listing = api(sim, "GET", "/v1/credentials")
    assert secret not in cred.text + listing.text
    assert len(listing.json()["items"]) == 1
    bad = {"name": "c", "provider": "carrier-pigeon", "api_key": "x"}
    assert api(sim, "POST", "/v1/credentials", json=bad).status_code == 422

    search = api(sim, "GET", "/v1/phone-numbers/search", params={"country": "US", "area_code": "415"}).json()
    again = api(sim, "GET", "/v1/phone-numbers/search", params={"country": "US", "area_code": "415"}).json()
    assert search == again
    assert len(search["items"]) == 10
    assert all(item["phone_number"].startswith("+1415") for item in search["items"])

    body = {"phone_number": search["items"][0]["phone_number"], "credential_id": cred.json()["id"]}
    number = api(sim, "POST", "/v1/phone-numbers", json=body).json()
    assert number["status"] == "active"
    assert number["provider"] == "twilio"
    assert is_uuid(number["id"])
    patched = api(sim, "PATCH", f"/v1/phone-numbers/{number['id']}", json={"agent_id": "agt_support"})
    assert patched.json()["agent_id"] == "agt_support"
    assert api(sim, "PATCH", f"/v1/phone-numbers/{number['id']}", json={"agent_id": "no"}).status_code == 404
    bought = api(sim, "POST", "/v1/phone-numbers/purchase", json={"area_code": "415"})
    assert bought.status_code == 201
    assert bought.json()["phone_number"] == search["items"][1]["phone_number"]  # the first is taken
    filtered = api(sim, "GET", "/v1/phone-numbers", params={"phone_number": body["phone_number"]}).json()
    assert [n["id"] for n in filtered["items"]] == [number["id"]]


# -- webhooks ------------------------------------------------------------------------------------
def test_webhooks_are_delivered_at_the_right_times(frozen: OneInboxSimulator, receiver: Receiver) -> None:
    sim = frozen
    spec = {"name": "h", "url": f"{receiver.url}/acct", "events": ["call.analyzed"]}
    hook = api(sim, "POST", "/v1/webhooks", json=spec)
    assert hook.status_code == 201
    assert hook.json()["secret"]
    assert hook.json()["status"] == "active"
    assert api(sim, "GET", "/v1/webhooks").json()["items"][0]["id"] == hook.json()["id"]

    call = create_call(sim, webhook_url=f"{receiver.url}/call", metadata={"order": "A1"})
    wait_for(lambda: receiver.names("/call") == ["call.started"])
    sim.advance(22.5)  # ended, not yet analysed
    wait_for(lambda: receiver.names("/call") == ["call.started", "call.ended"])
    assert receiver.names("/acct") == []
    sim.advance(3)
    wait_for(lambda: len(receiver.names("/acct")) == 1 and len(receiver.names("/call")) == 3)
    _, analyzed, headers = receiver.events[-1]
    assert analyzed["call_id"] == call["id"]
    assert analyzed["outcome"] == "Interested"
    assert analyzed["status"] == "completed"
    assert analyzed["duration_seconds"] == 20

    index = next(i for i, event in enumerate(receiver.events) if event[0] == "/acct")
    headers = receiver.events[index][2]
    signed = f"{headers['X-OneInbox-Timestamp']}.".encode() + receiver.raw[index]
    expected = hmac.new(hook.json()["secret"].encode(), signed, hashlib.sha256).hexdigest()
    assert headers["X-OneInbox-Signature"] == f"sha256={expected}"

    test = api(sim, "POST", f"/v1/webhooks/{hook.json()['id']}/test").json()
    assert test["delivered"] is True
    assert api(sim, "PATCH", f"/v1/webhooks/{hook.json()['id']}", json={"name": "n"}).json()["name"] == "n"
    assert api(sim, "DELETE", f"/v1/webhooks/{hook.json()['id']}").status_code == 204
    assert api(sim, "GET", "/v1/webhooks").json()["items"] == []


def test_failed_call_webhooks_and_unreachable_receiver(frozen: OneInboxSimulator, receiver: Receiver) -> None:
    create_call(frozen, to_number="+14155550004", webhook_url=f"{receiver.url}/f")
    create_call(frozen, webhook_url="http://127.0.0.1:9/unreachable")  # failures are logged, ignored
    frozen.advance(60)
    wait_for(lambda: len(receiver.names("/f")) == 4)
    assert receiver.names("/f") == ["call.started", "call.failed", "call.ended", "call.analyzed"]
    assert api(frozen, "GET", "/v1/agents").status_code == 200


# -- faults --------------------------------------------------------------------------------------
def test_rate_limit_burst_and_retry_after(sim: OneInboxSimulator) -> None:
    sim.set_faults(rate_limit_burst=2, retry_after=2)
    for _ in range(2):
        response = api(sim, "GET", "/v1/agents")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "2"
        assert response.json() == {"detail": "Rate limit exceeded"}
    assert api(sim, "GET", "/v1/agents").status_code == 200
    sim.set_faults(rate_limit_ratio=1.0, retry_after=0.5)
    assert api(sim, "GET", "/v1/agents").headers["Retry-After"] == "0.5"
    assert sim.stats()["faults_injected"]["429"] == 3
    assert requests.get(f"{sim.base_url}/_sim/stats", timeout=5).status_code == 200  # never faulted


def test_server_errors_fire_before_the_request_takes_effect(sim: OneInboxSimulator) -> None:
    sim.set_faults(server_error_burst=1)
    body = {"agent_id": "agt_sales", "to_number": "+14155551000", "from_number": "+14157770000"}
    response = api(sim, "POST", "/v1/calls", json=body)
    assert response.status_code == 500
    assert isinstance(response.json()["detail"], str)
    sim.set_faults(server_error_ratio=1.0)
    assert api(sim, "POST", "/v1/calls", json=body).status_code == 503
    assert sim.calls_created() == 0
    assert sim.stats()["faults_injected"]["5xx"] == 2
    assert [e["status"] for e in sim.requests("POST", "/v1/calls")] == [500, 503]


def test_faults_only_on_selected_paths_and_methods(sim: OneInboxSimulator) -> None:
    call = create_call(sim)
    sim.set_faults(rate_limit_ratio=1.0, only_paths=["/v1/calls/"])
    assert api(sim, "GET", "/v1/agents").status_code == 200
    assert api(sim, "GET", f"/v1/calls/{call['id']}").status_code == 429
    sim.set_faults(only_paths=None, only_methods=["POST"])
    assert api(sim, "GET", f"/v1/calls/{call['id']}").status_code == 200
    assert api(sim, "POST", "/v1/agents", json={"name": "x"}).status_code == 429
    sim.clear_faults()
    assert api(sim, "POST", "/v1/agents", json={"name": "x"}).status_code == 201


def test_faults_only_on_selected_routes(sim: OneInboxSimulator) -> None:
    call = create_call(sim)
    sim.set_faults(rate_limit_ratio=1.0, only_routes=["/v1/calls/{call_id}"])
    assert api(sim, "GET", f"/v1/calls/{call['id']}").status_code == 429
    assert api(sim, "GET", f"/v1/calls/{MISSING}").status_code == 429
    assert api(sim, "GET", "/v1/calls/cursor").status_code == 200  # same prefix, another route
    assert api(sim, "POST", f"/v1/calls/{call['id']}/stop").status_code == 200
    assert api(sim, "GET", "/v1/calls").status_code == 200


def test_seeded_ratio_is_reproducible(sim: OneInboxSimulator) -> None:
    def run() -> list[int]:
        sim.set_faults(rate_limit_ratio=0.5, seed=7)
        return [api(sim, "GET", "/v1/agents").status_code for _ in range(12)]

    first = run()
    assert first == run()
    assert {200, 429} == set(first)


def test_latency(sim: OneInboxSimulator) -> None:
    sim.set_faults(latency=0.3)
    started = time.monotonic()
    assert api(sim, "GET", "/v1/agents").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_dropped_connection_writes_nothing_and_creates_nothing(sim: OneInboxSimulator) -> None:
    sim.set_faults(drop_burst=1)
    body = {"agent_id": "agt_sales", "to_number": "+14155551000", "from_number": "+14157770000"}
    with pytest.raises(requests.ConnectionError, match=r"without response|Connection aborted"):
        api(sim, "POST", "/v1/calls", json=body)
    assert sim.calls_created() == 0
    (entry,) = sim.requests("POST")
    assert entry["fault"] == "drop"
    assert entry["status"] is None
    assert set(entry) >= {"method", "path", "route", "status", "fault", "time"}
    assert "headers" not in entry
    assert TEST_API_KEY not in json.dumps(entry)

    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as raw:  # not a single byte back
        sim.set_faults(drop_ratio=1.0)
        raw.sendall(
            f"GET /v1/agents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TEST_API_KEY}\r\n\r\n".encode()
        )
        assert raw.recv(1024) == b""
    assert sim.stats()["faults_injected"]["drop"] == 2


def test_dropped_connection_is_server_disconnected_for_aiohttp(sim: OneInboxSimulator) -> None:
    sim.set_faults(drop_burst=1)

    async def post() -> None:
        async with aiohttp.ClientSession() as session:
            body = {"agent_id": "agt_sales", "to_number": "+14155551000", "from_number": "+14157770000"}
            await session.post(f"{sim.base_url}/v1/calls", json=body, headers=AUTH)

    with pytest.raises(aiohttp.ServerDisconnectedError):
        asyncio.run(post())


def test_lost_create_response_still_creates_the_call(sim: OneInboxSimulator) -> None:
    sim.set_faults(lose_create_response=1)
    body = {"agent_id": "agt_sales", "to_number": "+14155554242", "from_number": "+14157770000"}
    with pytest.raises(requests.ConnectionError):
        api(sim, "POST", "/v1/calls", json=body, headers={"Idempotency-Key": "idem-1"})
    assert sim.calls_created("+14155554242") == 1
    listed = api(sim, "GET", "/v1/calls").json()["items"]
    assert [c["to_number"] for c in listed] == ["+14155554242"]
    (entry,) = sim.requests("POST", "/v1/calls")
    assert entry["fault"] == "lost_create_response"
    assert entry["idempotency_key"] == "idem-1"
    # The Idempotency-Key is ignored, as the real API documents none: a retry makes a second call.
    api(sim, "POST", "/v1/calls", json=body, headers={"Idempotency-Key": "idem-1"})
    assert sim.calls_created("+14155554242") == 2
    assert sim.stats()["faults_injected"]["lost_create_response"] == 1


def test_admin_endpoints_over_http(sim: OneInboxSimulator) -> None:
    base = sim.base_url
    settings = requests.post(f"{base}/_sim/faults", json={"rate_limit_burst": 1}, timeout=5).json()
    assert settings["rate_limit_burst"] == 1
    assert requests.post(f"{base}/_sim/faults", json={"rate_limit_ratio": 2}, timeout=5).status_code == 422
    assert requests.post(f"{base}/_sim/faults", json={"bogus": 1}, timeout=5).status_code == 422
    assert api(sim, "GET", "/v1/agents").status_code == 429
    requests.post(f"{base}/_sim/faults", json={"rate_limit_burst": 1}, timeout=5)
    assert requests.delete(f"{base}/_sim/faults", timeout=5).json()["rate_limit_burst"] == 0
    assert api(sim, "GET", "/v1/agents").status_code == 200

    call = create_call(sim)
    requests.post(f"{base}/_sim/advance", json={"seconds": 1000}, timeout=5)
    assert get_call(sim, call["id"])["status"] == "completed"
    stats = requests.get(f"{base}/_sim/stats", timeout=5).json()
    assert stats["requests_total"] == 4
    assert stats["calls_created"] == 1
    assert stats["active_calls"] == 0
    assert stats["requests_by_route"]["POST /v1/calls"] == 1
    assert stats["connections_opened"] >= 4
    logged = requests.get(f"{base}/_sim/requests", params={"method": "GET"}, timeout=5).json()["items"]
    assert [e["route"] for e in logged] == ["/v1/agents", "/v1/agents", "/v1/calls/{call_id}"]
    requests.post(f"{base}/_sim/reset", timeout=5)
    assert sim.stats()["requests_total"] == 0
    assert api(sim, "GET", f"/v1/calls/{call['id']}").status_code == 404


def test_reset_restores_defaults(sim: OneInboxSimulator) -> None:
    api(sim, "POST", "/v1/agents", json={"name": "temp"})
    sim.configure(speed=1000, analysis_delay=60)
    sim.set_faults(latency=5)
    sim.reset()
    stats = sim.stats()
    assert stats["speed"] == 20.0
    assert stats["analysis_delay"] == 3.0
    assert api(sim, "GET", "/v1/agents").json()["total"] == len(SEED_AGENT_IDS)  # also: no latency left


def test_refuse_connections_then_recover_with_state(sim: OneInboxSimulator) -> None:
    call = create_call(sim)
    session = requests.Session()
    assert session.get(f"{sim.base_url}/v1/calls/{call['id']}", headers=AUTH, timeout=5).status_code == 200
    port = sim.port
    sim.refuse_connections(0.5)
    with pytest.raises(requests.ConnectionError) as excinfo:
        session.get(f"{sim.base_url}/v1/calls/{call['id']}", headers=AUTH, timeout=5)
    assert "refused" in str(excinfo.value).lower()

    def back() -> bool:
        try:
            return session.get(f"{sim.base_url}/v1/calls/{call['id']}", headers=AUTH, timeout=5).ok
        except requests.ConnectionError:
            return False

    wait_for(back, timeout=5)
    assert sim.port == port
    assert get_call(sim, call["id"])["id"] == call["id"]


def test_concurrent_pollers_share_connections(sim: OneInboxSimulator) -> None:
    ids = [create_call(sim, to_number=f"+1415555{i:04d}")["id"] for i in range(50)]
    before = sim.stats()["connections_opened"]

    async def poll() -> list[int]:
        connector = aiohttp.TCPConnector(limit=10)
        async with aiohttp.ClientSession(connector=connector, headers=AUTH) as session:

            async def one(call_id: str) -> int:
                async with session.get(f"{sim.base_url}/v1/calls/{call_id}") as response:
                    await response.read()
                    return response.status

            return await asyncio.gather(*(one(i) for r in range(4) for i in ids))

    assert set(asyncio.run(poll())) == {200}
    assert sim.stats()["connections_opened"] - before <= 10
    assert sim.stats()["requests_by_route"]["GET /v1/calls/{call_id}"] == 200


# -- TLS and CLI ---------------------------------------------------------------------------------
def test_tls_with_generated_certificate() -> None:
    with OneInboxSimulator(api_key=TEST_API_KEY, tls=True) as sim:
        assert sim.base_url.startswith("https://127.0.0.1:")
        assert sim.ca_cert_path
        ca = sim.ca_cert_path
        response = requests.get(f"{sim.base_url}/v1/agents", headers=AUTH, verify=ca, timeout=5)
        assert response.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{sim.base_url}/v1/agents", headers=AUTH, verify=True, timeout=5)
        sim.set_faults(drop_burst=1)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{sim.base_url}/v1/agents", headers=AUTH, verify=ca, timeout=5)
        assert sim.stats()["faults_injected"]["drop"] == 1
    assert not os.path.exists(ca)


def _run_cli(*args: str, **kwargs: Any) -> Any:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "airflow_provider_oneinbox.simulator", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        **kwargs,
    )


def test_cli_help_documents_scenarios_and_faults() -> None:
    result = _run_cli("--help", timeout=30)
    assert result.returncode == 0
    for name in SCENARIOS:
        assert name in result.stdout
    for option in (
        "--speed",
        "--analysis-delay",
        "--tls",
        "--drop-ratio",
        "--lose-create-response",
        "--seed",
    ):
        assert option in result.stdout


def test_cli_serves_until_terminated() -> None:
    with simulator_process("--speed", "50") as running:
        assert "listening on http://127.0.0.1:" in running.announcement
        port = running.port
        headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        response = requests.get(f"http://127.0.0.1:{port}/v1/agents", headers=headers, timeout=5)
        assert response.status_code == 200
        assert response.json()["total"] == len(SEED_AGENT_IDS)
    assert running.returncode == 0, running.err
    assert "stopped" in running.out
