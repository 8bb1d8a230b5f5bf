"""Error bodies in every shape the API reference allows, over loopback, through both hooks."""

from __future__ import annotations

import asyncio
import pickle
import uuid
from typing import Any

import pytest

from airflow_provider_oneinbox.exceptions import (
    OneInboxAuthError,
    OneInboxError,
    OneInboxInvalidIdError,
    OneInboxNotFoundError,
    OneInboxValidationError,
)
from airflow_provider_oneinbox.hooks.api import ApiRequest
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook
from airflow_provider_oneinbox.task_errors import AirflowFailException, airflow_error
from tests.helpers.loopback import Reply, loopback_connection

AGENT = "agt_sales"


def _uuid_error(name: str, value: str) -> dict[str, Any]:
    """FastAPI's answer to a malformed UUID path parameter, ``input`` included as FastAPI sends it."""
    return {
        "detail": [
            {
                "type": "uuid_parsing",
                "loc": ["path", name],
                "msg": "Input should be a valid UUID, invalid character: expected an optional prefix of "
                "`urn:uuid:` followed by [0-9a-fA-F-], found `a` at 1",
                "input": value,
                "ctx": {"error": "invalid character"},
            }
        ]
    }


def _fail(action: Any) -> OneInboxError:
    with pytest.raises(OneInboxError) as info:
        action()
    return info.value


@pytest.mark.parametrize(
    ("status", "body", "cls", "code", "said"),
    [
        (
            404,
            {"detail": "Voice not found", "code": "VOICE_NOT_FOUND"},
            OneInboxNotFoundError,
            "VOICE_NOT_FOUND",
            "Voice not found",
        ),
        (
            403,
            {"detail": "Origin not allowed", "code": "ORIGIN_NOT_ALLOWED"},
            OneInboxAuthError,
            "ORIGIN_NOT_ALLOWED",
            "Origin not allowed",
        ),
        (
            404,
            {"detail": {"code": "AGENT_NOT_FOUND", "message": "No such agent"}},
            OneInboxNotFoundError,
            "AGENT_NOT_FOUND",
            "No such agent",
        ),
        (
            400,
            {"error": {"code": "BAD_THING", "message": "That is bad"}},
            OneInboxValidationError,
            "BAD_THING",
            "That is bad",
        ),
        (
            403,
            {"code": "PLAN_LIMIT", "message": "Upgrade your plan"},
            OneInboxAuthError,
            "PLAN_LIMIT",
            "Upgrade your plan",
        ),
    ],
)
def test_error_code_kept_and_shown(
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    body: dict[str, Any],
    cls: type[OneInboxError],
    code: str,
    said: str,
) -> None:
    path = f"/v1/agents/{AGENT}"
    with loopback_connection(monkeypatch, {("GET", path): Reply(status, body)}) as server:
        error = _fail(lambda: OneInboxHook().get_agent(AGENT))
        assert type(error) is cls
        assert error.code == code
        shown = f"{said} (agent {AGENT!r})" if status == 404 else said  # a 404 names the id it looked for
        assert str(error) == f"OneInbox API GET {path} failed with {status} (code {code}): {shown}"
        again = pickle.loads(pickle.dumps(error))
        assert (type(again), again.code, str(again)) == (cls, code, str(error))
        async_error = _fail(lambda: asyncio.run(OneInboxAsyncHook().get_agent(AGENT)))
        assert (type(async_error), async_error.code, str(async_error)) == (cls, code, str(error))
        assert len(server.requests()) == 2  # permanent: neither hook asked twice


@pytest.mark.parametrize(
    "body",
    [
        {"detail": "Agent not found"},
        {"detail": [{"loc": ["body", "x"], "msg": "Field required", "type": "missing"}]},
        b"<html>Not Found</html>",
        {"detail": {"message": "no code here"}},
        {"detail": "x", "code": ""},
    ],
)
def test_error_without_code_has_none(monkeypatch: pytest.MonkeyPatch, body: Any) -> None:
    with loopback_connection(monkeypatch, {("GET", f"/v1/agents/{AGENT}"): Reply(404, body)}):
        error = _fail(lambda: OneInboxHook().get_agent(AGENT))
    assert error.code is None
    assert "(code" not in str(error)


def test_malformed_call_id_is_a_permanent_invalid_id_error(monkeypatch: pytest.MonkeyPatch) -> None:
    script = {("GET", "/v1/calls/abc"): Reply(422, _uuid_error("call_id", "abc"))}
    with loopback_connection(monkeypatch, script) as server:
        error = _fail(lambda: OneInboxHook().get_call("abc"))
        async_error = _fail(lambda: asyncio.run(OneInboxAsyncHook().get_call("abc")))
    for raised in (error, async_error):
        assert isinstance(raised, OneInboxInvalidIdError)
        assert isinstance(raised, OneInboxValidationError)
        assert (raised.field, raised.value, raised.status_code, raised.transient) == (
            "call_id",
            "abc",
            422,
            False,
        )
        assert str(raised) == (
            "OneInbox API GET /v1/calls/abc failed with 422: call_id 'abc' is not a valid id for OneInbox "
            "(it expects a UUID). Pass the id exactly as OneInbox returned it"
        )
        assert raised.detail[0]["input"] == "abc"  # the path segment, quoted in the URL anyway
        assert "ctx" not in raised.detail[0]
    assert len(server.requests()) == 2  # one per hook: a 422 is never retried
    assert isinstance(airflow_error(error, "Reading the call"), AirflowFailException)
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, OneInboxInvalidIdError)
    assert (again.field, again.value) == ("call_id", "abc")


def test_malformed_id_named_by_our_argument_when_the_api_names_it_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reference calls the number's path id ``phone_id``; the hook's argument is ``phone_number_id``."""
    path = "/v1/phone-numbers/phn_1/inbound-routing"
    with loopback_connection(monkeypatch, {("GET", path): Reply(422, _uuid_error("phone_id", "phn_1"))}):
        error = _fail(lambda: OneInboxHook().get_inbound_routing("phn_1"))
    assert isinstance(error, OneInboxInvalidIdError)
    assert (error.field, error.value) == ("phone_number_id", "phn_1")
    assert "phone_number_id 'phn_1' is not a valid id for OneInbox (it expects a UUID)" in str(error)


def test_body_errors_beside_a_path_error_are_still_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _uuid_error("call_id", "abc")
    body["detail"].append({"loc": ["body", "outcome"], "msg": "Field required", "type": "missing"})
    with loopback_connection(monkeypatch, {("PATCH", "/v1/calls/abc"): Reply(422, body)}):
        error = _fail(lambda: OneInboxHook().update_call_outcome("abc", "Interested"))
    assert isinstance(error, OneInboxInvalidIdError)
    assert "call_id 'abc' is not a valid id" in str(error)
    assert "body.outcome: Field required" in str(error)


def test_body_validation_error_is_not_an_invalid_id(monkeypatch: pytest.MonkeyPatch) -> None:
    body = {
        "detail": [
            {"loc": ["body", "agent_id"], "msg": "Input should be a valid UUID", "type": "uuid_parsing"}
        ]
    }
    call_id = str(uuid.uuid4())
    with loopback_connection(monkeypatch, {("PATCH", f"/v1/calls/{call_id}"): Reply(422, body)}):
        error = _fail(lambda: OneInboxHook().update_call_outcome(call_id, "Interested"))
    assert type(error) is OneInboxValidationError
    assert "body.agent_id: Input should be a valid UUID" in str(error)


def test_unknown_path_error_type_quotes_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"detail": [{"loc": ["path", "webhook_id"], "msg": "String too long", "type": "string_too_long"}]}
    path = "/v1/webhooks/w1/deliveries"
    with loopback_connection(monkeypatch, {("GET", path): Reply(422, body)}):
        error = _fail(lambda: OneInboxHook().list_webhook_deliveries("w1"))
    assert isinstance(error, OneInboxInvalidIdError)
    assert "webhook_id 'w1' is not a valid id for OneInbox (the API says: String too long)" in str(error)


def test_dot_segments_are_refused_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    with loopback_connection(monkeypatch, {}) as server:
        for bad in (".", ".."):
            with pytest.raises(ValueError, match="call_id"):
                OneInboxHook().get_call(bad)
            with pytest.raises(ValueError, match="call_id"):
                asyncio.run(OneInboxAsyncHook().get_call(bad))
    assert server.requests() == []


def test_malformed_id_value_from_fastapi_when_the_request_did_not_name_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request built by hand has no ``path_ids``: FastAPI's ``input`` names the value."""
    path = "/v1/calls/cursor-v0"
    with loopback_connection(monkeypatch, {("GET", path): Reply(422, _uuid_error("call_id", "cursor-v0"))}):
        error = _fail(lambda: OneInboxHook()._request(ApiRequest("GET", path)))
    assert isinstance(error, OneInboxInvalidIdError)
    assert (error.field, error.value) == ("call_id", "cursor-v0")
    assert "call_id 'cursor-v0' is not a valid id" in str(error)
