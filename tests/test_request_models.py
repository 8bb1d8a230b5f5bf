"""
The typed descriptions of the API (``airflow_provider_oneinbox.models``): one per request body, the
call record, phone numbers. Client and simulator check bodies with the same models, so whatever the
client refuses the simulator refuses too, naming the same field; every record the simulator serves
is a valid ``CallRecord``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import requests
from pydantic import ValidationError

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.exceptions import OneInboxInputError, OneInboxMalformedResponseError
from airflow_provider_oneinbox.hooks import api
from airflow_provider_oneinbox.hooks.records import CALL_FIELDS, call_record_of
from airflow_provider_oneinbox.models import (
    CALL_RECORD_FIELDS,
    CallRecord,
    CredentialRequest,
    PhoneNumberInfo,
    describe_phone_number,
    parse_call_record,
)
from airflow_provider_oneinbox.operators.calls import CallNotPlaced, OneInboxPlaceCallOperator
from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.simulator.record import CALL_FIELDS as SIMULATOR_CALL_FIELDS
from tests.conftest import TEST_API_KEY

AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}
TO, FROM = "+14155550120", "+14155550100"
CARRIER_KEY = "carrier_key_9f8e7d6c5b4a"
SIP_PASSWORD = "sip_pass_1a2b3c4d5e"


def post(sim: OneInboxSimulator, path: str, body: dict[str, Any], method: str = "POST") -> requests.Response:
    return requests.request(method, sim.base_url + path, json=body, headers=AUTH, timeout=10)


# -- client and simulator refuse the same bodies, naming the same field ----------------------------
#: (builder call, simulator method and path, the body the builder would send, the field named).
REFUSED: list[tuple[Callable[[], Any], str, str, dict[str, Any], str]] = [
    (
        lambda: api.create_call("agt_sales", "+10", FROM),
        "POST",
        "/v1/calls",
        {"agent_id": "agt_sales", "to_number": "+10", "from_number": FROM},
        "to_number",
    ),
    (
        lambda: api.create_call("agt_sales", TO, "+15550001000"),
        "POST",
        "/v1/calls",
        {"agent_id": "agt_sales", "to_number": TO, "from_number": "+15550001000"},
        "from_number",
    ),
    (
        lambda: api.create_call("agt_sales", TO, FROM, webhook_url="ftp://example.com/h"),
        "POST",
        "/v1/calls",
        {"agent_id": "agt_sales", "to_number": TO, "from_number": FROM, "webhook_url": "ftp://example.com/h"},
        "webhook_url",
    ),
    (
        lambda: api.create_call("agt_sales", TO, FROM, scheduled_at="2030-01-01T10:00:00"),
        "POST",
        "/v1/calls",
        {
            "agent_id": "agt_sales",
            "to_number": TO,
            "from_number": FROM,
            "scheduled_at": "2030-01-01T10:00:00",
        },
        "scheduled_at",
    ),
    (
        lambda: api.create_call("agt_sales", TO, FROM, overrides={"tts": {"speed": "fast"}}),
        "POST",
        "/v1/calls",
        {
            "agent_id": "agt_sales",
            "to_number": TO,
            "from_number": FROM,
            "overrides": {"tts": {"speed": "fast"}},
        },
        "overrides.tts.speed",
    ),
    (
        lambda: api.create_web_call("  "),
        "POST",
        "/v1/calls/web",
        {"agent_id": "  "},
        "agent_id",
    ),
    (
        lambda: api.register_phone_number("+4420718387"),
        "POST",
        "/v1/phone-numbers",
        {"phone_number": "+4420718387"},
        "phone_number",
    ),
    (
        lambda: api.register_phone_number(TO, inbound_routing={"fallback": {"agent_id": ""}}),
        "POST",
        "/v1/phone-numbers",
        {"phone_number": TO, "inbound_routing": {"fallback": {"agent_id": ""}}},
        "inbound_routing.fallback.agent_id",
    ),
    (
        lambda: api.purchase_phone_number(country="USA"),
        "POST",
        "/v1/phone-numbers/purchase",
        {"country": "USA"},
        "country",
    ),
    (
        lambda: api.create_webhook("w", "https://example.com/h", []),
        "POST",
        "/v1/webhooks",
        {"name": "w", "url": "https://example.com/h", "events": []},
        "events",
    ),
    (
        lambda: api.create_credential("main", "twilio", "   "),
        "POST",
        "/v1/credentials",
        {"name": "main", "provider": "twilio", "api_key": "   "},
        "api_key",
    ),
    (
        lambda: api.create_call_outcome(""),
        "POST",
        "/v1/workspace/call-outcomes",
        {"name": ""},
        "name",
    ),
]


@pytest.mark.parametrize(("build", "method", "path", "body", "field"), REFUSED, ids=[r[4] for r in REFUSED])
def test_client_and_simulator_refuse_the_same_body_naming_the_same_field(
    sim: OneInboxSimulator,
    build: Callable[[], Any],
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    with pytest.raises(OneInboxInputError) as info:
        build()
    assert info.value.field == field
    response = post(sim, path, body, method)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", *field.split(".")]


def test_what_the_client_builds_the_simulator_accepts(sim: OneInboxSimulator) -> None:
    when = datetime(2030, 1, 1, 12, tzinfo=UTC)
    call = api.create_call(
        "agt_sales",
        TO,
        FROM,
        variables={"name": "Ada"},
        scheduled_at=when,
        metadata={"crm": 7},
        overrides={"tts": {"voice_id": "voice_maya", "speed": 1.1}, "first_message": "Hi", "custom": True},
    )
    assert call.json is not None
    assert call.json["scheduled_at"] == "2030-01-01T12:00:00+00:00"
    assert call.json["overrides"]["custom"] is True, "fields the reference does not name are kept"
    response = post(sim, call.path, dict(call.json))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "queued"
    number = api.register_phone_number(
        "+14155550177",
        agent_id="agt_sales",
        provider_config={"trunk_address": "sip.example.com", "auth_password": SIP_PASSWORD},
        inbound_routing={"agent_id": "agt_sales", "fallback": {"agent_id": "agt_support"}},
    )
    assert number.json is not None
    assert post(sim, number.path, dict(number.json)).status_code == 201
    assert number.secrets == (SIP_PASSWORD,)


# -- secrets ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "build",
    [
        lambda: api.create_credential("main", "twilio", 12345678901234),  # type: ignore[arg-type]
        lambda: api.create_credential("main", "", CARRIER_KEY),
        lambda: api.register_phone_number(TO, provider_config={"auth_password": 98765432109}),
        lambda: api.register_phone_number("+10", provider_config={"auth_password": SIP_PASSWORD}),
    ],
)
def test_an_input_error_never_quotes_a_secret_nor_carries_pydantics_error(build: Callable[[], Any]) -> None:
    with pytest.raises(OneInboxInputError) as info:
        build()
    texts = (str(info.value), repr(info.value), repr(info.value.args))
    for secret in (CARRIER_KEY, SIP_PASSWORD, "12345678901234", "98765432109"):
        assert not any(secret in text for text in texts)
    assert info.value.__context__ is None
    assert info.value.__cause__ is None
    assert not isinstance(info.value.__context__, ValidationError)


def test_models_keep_secrets_out_of_their_repr() -> None:
    body = CredentialRequest(name="main", provider="twilio", api_key=CARRIER_KEY)
    assert CARRIER_KEY not in repr(body) + str(body)
    request = api.register_phone_number(TO, provider_config={"auth_password": SIP_PASSWORD})
    assert SIP_PASSWORD not in repr(request)


# -- phone numbers ---------------------------------------------------------------------------------
def test_describe_phone_number_gives_region_and_time_zones() -> None:
    assert describe_phone_number("+14155550123") == PhoneNumberInfo(
        e164="+14155550123", country_code=1, region="US", time_zones=("America/Los_Angeles",)
    )
    london = describe_phone_number("+44 20 7183 8750")
    assert (london.e164, london.region, london.time_zones) == ("+442071838750", "GB", ("Europe/London",))
    assert "Australia/Sydney" in describe_phone_number("+61491570006").time_zones
    freephone = describe_phone_number("+80012345678")
    assert (freephone.region, freephone.time_zones) == (None, ())
    with pytest.raises(OneInboxInputError, match="cannot exist") as info:
        describe_phone_number("+15550001000", field="contact")
    assert info.value.field == "contact"


# -- the call record -------------------------------------------------------------------------------
def test_the_call_record_accepts_every_shape_the_reference_allows() -> None:
    base = {"id": "call_1", "status": "completed"}
    shapes: list[dict[str, Any]] = [
        {"analysis": None, "messages": [], "transcript": None},
        {"analysis": {}, "messages": None},
        {"analysis": {"outcome": None, "summary": None}},
        {"analysis": {"outcome": "Voicemail", "summary": "Left a message", "sentiment": "neutral"}},
        {"transcript": "Agent: Hi\nUser: Hello"},
        {"transcript": [{"role": "agent", "content": "Hi"}, {"role": "user", "content": "Hello"}]},
        {"messages": [{"role": "agent", "content": "Hi", "time": 0.4}]},
        {"status": "ringing", "type": "inbound", "direction": "inbound", "from_number": None},
        {"latency": {"llm_ms": 300}, "duration_seconds": 12, "cost_cents": 9, "credits_used": 0.2},
        {"a_field_added_later": {"x": 1}},
    ]
    for shape in shapes:
        record = parse_call_record({**base, **shape})
        assert record.model_dump(exclude_unset=True) == {**base, **shape}, shape
    assert parse_call_record({**base, "a_field_added_later": 1}).model_extra == {"a_field_added_later": 1}


@pytest.mark.parametrize(("name", "types"), sorted(CALL_FIELDS.items()))
def test_the_hooks_shape_checks_and_the_call_record_agree(name: str, types: tuple[type, ...]) -> None:
    """``hooks/records.py`` checks types cheaply on every poll; the model must allow the same ones."""
    samples: dict[type, Any] = {str: "x", list: [], dict: {}, int: 5, bool: True}
    request = api.get_call("call_1")
    for kind, value in samples.items():
        record = {"id": "call_1", "status": "completed", name: value}
        hook_accepts = kind in types
        try:
            call_record_of(record, request)
        except OneInboxMalformedResponseError:
            assert not hook_accepts, (name, value)
        else:
            assert hook_accepts, (name, value)
        if hook_accepts:
            parse_call_record(record)
        elif kind is not bool and not (kind is int and name in ("status", "id")):
            with pytest.raises(ValidationError):
                parse_call_record(record)


def test_the_simulator_serves_the_models_fields_in_order() -> None:
    assert SIMULATOR_CALL_FIELDS == CALL_RECORD_FIELDS
    assert CALL_RECORD_FIELDS[:5] == ("id", "agent_id", "type", "direction", "status")


@pytest.mark.parametrize(
    ("post_call_shape", "transcript_shape"), [("nulls", "string"), ("empty", "list"), ("null", "list")]
)
def test_every_record_the_simulator_serves_is_a_call_record(
    sim: OneInboxSimulator, post_call_shape: str, transcript_shape: str
) -> None:
    sim.configure(speed=1e-6, post_call_shape=post_call_shape, transcript_shape=transcript_shape)
    ids = []
    for suffix in ["01", "02", "03", "04", "05", "06", "07", "08", "09", "20"]:
        response = post(
            sim,
            "/v1/calls",
            {"agent_id": "agt_sales", "to_number": f"+141555501{suffix}", "from_number": FROM},
        )
        assert response.status_code == 201, response.text
        CallRecord.model_validate(response.json())
        ids.append(response.json()["id"])
    web = post(sim, "/v1/calls/web", {"agent_id": "agt_sales"})
    ids.append(web.json()["id"])
    seen = 0
    for step in (0, 3, 10, 30, 40, 700):
        sim.advance(step)
        for call_id in ids:
            record = requests.get(f"{sim.base_url}/v1/calls/{call_id}", headers=AUTH, timeout=10).json()
            parse_call_record(record)
            seen += 1
        for path in ("/v1/calls?limit=100", "/v1/calls/cursor?limit=100"):
            page = requests.get(sim.base_url + path, headers=AUTH, timeout=10).json()
            for item in page["items"]:
                parse_call_record(item)
                seen += 1
    stopped = requests.post(f"{sim.base_url}/v1/calls/{ids[4]}/stop", headers=AUTH, timeout=10).json()
    parse_call_record(stopped)
    assert seen > 100


# -- the place-call operator builds its request once -----------------------------------------------
def test_the_operator_validates_once_and_sends_those_fields(sim: OneInboxSimulator) -> None:
    when = datetime(2030, 1, 1, 12, tzinfo=UTC)
    operator = OneInboxPlaceCallOperator(
        task_id="call", agent_id=" agt_sales ", to_number=TO, from_number=FROM, scheduled_at=when
    )
    request = operator._validated_request()
    expected = api.call_request("agt_sales", TO, FROM, scheduled_at=when).arguments()
    assert request == expected
    assert (request["agent_id"], request["scheduled_at"]) == ("agt_sales", "2030-01-01T12:00:00+00:00")
    record = operator.hook.create_call(**request)
    assert (record["to_number"], record["status"]) == (TO, "queued")


@pytest.mark.parametrize(("field", "number"), [("to_number", "+10"), ("from_number", "+15550001000")])
def test_the_operator_refuses_a_number_that_cannot_exist_naming_the_field(field: str, number: str) -> None:
    arguments: dict[str, Any] = {"to_number": TO, "from_number": FROM, field: number}
    operator = OneInboxPlaceCallOperator(task_id="call", agent_id="agt_sales", **arguments)
    with pytest.raises(CallNotPlaced, match=f"'{field}'.*cannot exist"):
        operator._validated_request()
