"""OneInboxHook against the real simulator over loopback: every endpoint, errors, settings, TLS."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.exceptions import (
    OneInboxAuthError,
    OneInboxConfigError,
    OneInboxConflictError,
    OneInboxInputError,
    OneInboxInvalidIdError,
    OneInboxNotFoundError,
    OneInboxTransportError,
    OneInboxValidationError,
)
from airflow_provider_oneinbox.hooks.api import ApiRequest
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.simulator import SEED_AGENT_IDS, OneInboxSimulator
from tests.conftest import CONN_ID, TEST_API_KEY, connection_json
from tests.helpers.sockets import free_port

AGENT = SEED_AGENT_IDS[0]
FROM = "+14155550100"


def test_hook_call_lifecycle(sim: OneInboxSimulator) -> None:
    scheduled = datetime.now(UTC) + timedelta(hours=1)
    with OneInboxHook() as hook:
        call = hook.create_call(
            AGENT,
            "+14155550111",
            FROM,
            variables={"customer_name": "Ada"},
            metadata={"order": 42},
            overrides={"first_message": "Hello"},
            webhook_url="https://example.com/hooks/oneinbox",
            idempotency_key="order-42",
        )
        assert call["to_number"] == "+14155550111"
        assert call["metadata"] == {"order": 42}
        assert hook.get_call(call["id"])["id"] == call["id"]
        stopped = hook.stop_call(call["id"])
        assert stopped["status"] in ("completed", "failed")
        assert hook.update_call_outcome(call["id"], "appointment booked")["outcome"] == "Appointment Booked"
        queued = hook.create_call(AGENT, "+14155550112", FROM, scheduled_at=scheduled)
        assert queued["status"] == "queued"
        web = hook.create_web_call(AGENT, variables={"a": 1}, metadata={"b": 2})
        assert web["participant_token"]
        assert hook.call_url(call["id"]) == f"https://app.oneinbox.ai/calls/{call['id']}"
    [create] = sim.requests(method="POST", path_prefix="/v1/calls")[:1]
    assert create["idempotency_key"] == "order-42"
    assert sim.calls_created("+14155550111") == 1


def test_hook_agents(sim: OneInboxSimulator) -> None:
    hook = OneInboxHook()
    page = hook.list_agents(limit=1)
    assert page["total"] == len(SEED_AGENT_IDS)
    assert len(page["items"]) == 1
    assert [agent["id"] for agent in hook.iter_agents(page_size=1)] == list(SEED_AGENT_IDS)
    assert hook.get_agent(AGENT)["id"] == AGENT
    assert sim.stats()["requests_by_route"]["GET /v1/agents"] == 1 + len(SEED_AGENT_IDS)


def test_hook_credentials_and_numbers(sim: OneInboxSimulator) -> None:
    hook = OneInboxHook()
    credential = hook.create_credential("main", "twilio", "carrier-key")
    assert "api_key" not in credential
    assert [c["id"] for c in hook.list_credentials()] == [credential["id"]]
    number = hook.register_phone_number(
        "+14155550190", agent_id=AGENT, provider="twilio", credential_id=credential["id"], friendly_name="HQ"
    )
    with pytest.raises(OneInboxConflictError, match="409") as info:
        hook.register_phone_number("+14155550190", agent_id=AGENT)
    assert info.value.status_code == 409
    assert hook.update_phone_number(number["id"], SEED_AGENT_IDS[1])["agent_id"] == SEED_AGENT_IDS[1]
    assert [n["id"] for n in hook.list_phone_numbers()] == [number["id"]]
    found = hook.get_phone_number_by_number("+14155550190")
    assert found is not None
    assert found["id"] == number["id"]
    assert hook.get_phone_number_by_number("+14155550191") is None
    available = hook.search_phone_numbers(country="US", area_code="415", limit=3)
    assert len(available) == 3
    assert all(n["phone_number"].startswith("+1415") for n in available)
    bought = hook.purchase_phone_number(phone_number=available[0]["phone_number"], agent_id=AGENT)
    assert bought["phone_number"] == available[0]["phone_number"]
    assigned = hook.purchase_phone_number(country="US", area_code="212")
    assert assigned["phone_number"].startswith("+1212")


def test_hook_webhooks(sim: OneInboxSimulator) -> None:
    hook = OneInboxHook()
    created = hook.create_webhook("ops", "https://example.invalid/hook", ["call.ended"])
    assert created["events"] == ["call.ended"]
    assert [w["id"] for w in hook.list_webhooks()] == [created["id"]]
    updated = hook.update_webhook(created["id"], events=["call.ended", "call.analyzed"], status="disabled")
    assert (updated["events"], updated["status"]) == (["call.ended", "call.analyzed"], "disabled")
    assert hook.test_webhook(created["id"])["webhook_id"] == created["id"]
    hook.delete_webhook(created["id"])
    with pytest.raises(OneInboxNotFoundError):
        hook.delete_webhook(created["id"])
    assert hook.list_webhooks() == []


def _place_calls(hook: OneInboxHook, count: int) -> list[str]:
    return [hook.create_call(AGENT, f"+1415555{1000 + i:04d}", FROM)["id"] for i in range(count)]


def test_hook_pagination_both_styles(sim: OneInboxSimulator) -> None:
    hook = OneInboxHook()
    placed = _place_calls(hook, 25)
    first = hook.list_calls(limit=10)
    assert (first["total"], len(first["items"])) == (25, 10)
    assert len(hook.list_calls(limit=10, offset=20)["items"]) == 5
    cursor_page = hook.list_calls_cursor(limit=10)
    assert cursor_page["has_more"]
    assert len(hook.list_calls_cursor(limit=10, cursor=cursor_page["next_cursor"])["items"]) == 10
    before = len(sim.requests(method="GET", path_prefix="/v1/calls/cursor"))
    by_cursor = [call["id"] for call in hook.iter_calls(page_size=10)]
    assert len(sim.requests(method="GET", path_prefix="/v1/calls/cursor")) - before == 3
    by_offset = [call["id"] for call in hook.iter_calls_offset(page_size=10)]
    assert sorted(by_cursor) == sorted(by_offset) == sorted(placed)
    assert len(set(by_cursor)) == 25
    assert by_cursor == by_offset
    assert len(list(hook.iter_calls(agent_id=AGENT, page_size=7, max_items=9))) == 9
    assert list(hook.iter_calls(agent_id=SEED_AGENT_IDS[2])) == []


def test_hook_reuses_one_connection(sim: OneInboxSimulator) -> None:
    before = sim.stats()["connections_opened"]
    with OneInboxHook() as hook:
        for _ in range(5):
            hook.get_agent(AGENT)
    assert sim.stats()["connections_opened"] - before == 1


def test_hook_error_classes_from_real_responses(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = OneInboxHook()
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(OneInboxNotFoundError) as not_found:
        hook.get_call(missing)
    assert str(not_found.value) == (
        f"OneInbox API GET /v1/calls/{missing} failed with 404: call '{missing}' not found"
    )
    assert not_found.value.code is None
    with pytest.raises(OneInboxInvalidIdError) as malformed:
        hook.get_call("call_missing")
    assert (malformed.value.field, malformed.value.value, malformed.value.status_code) == (
        "call_id",
        "call_missing",
        422,
    )
    assert "call_id 'call_missing' is not a valid id for OneInbox (it expects a UUID)" in str(malformed.value)
    assert len(sim.requests(path_prefix="/v1/calls/call_missing")) == 1
    # The hook refuses country="USA" itself (before any request); sent as is, the API answers 422.
    with pytest.raises(OneInboxValidationError) as invalid:
        hook._request(ApiRequest("GET", "/v1/phone-numbers/search", params={"country": "USA"}))
    assert "query.country: String should match pattern" in str(invalid.value)
    assert invalid.value.status_code == 422
    with pytest.raises(
        OneInboxValidationError, match=r"query\.limit: Input should be less than or equal to 100"
    ):
        hook._request(ApiRequest("GET", "/v1/calls", params={"limit": "500"}))
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sim.base_url, api_key="oi_sk_wrong")
    )
    with pytest.raises(OneInboxAuthError, match="401: Invalid API key"):
        OneInboxHook().get_agent(AGENT)
    assert len(sim.requests(path_prefix="/v1/agents")) == 1


def test_hook_validation_before_any_request(sim: OneInboxSimulator) -> None:
    hook = OneInboxHook()
    before = sim.stats()["requests_total"]
    bad_calls = [
        lambda: hook.create_call(AGENT, "4155550123", FROM),
        lambda: hook.create_call(AGENT, "+14155550123", "+1 415"),
        lambda: hook.create_call("", "+14155550123", FROM),
        lambda: hook.create_call(AGENT, "+14155550123", FROM, variables={"x": {1, 2}}),
        lambda: hook.create_call(AGENT, "+14155550123", FROM, metadata="order=1"),  # type: ignore[arg-type]
        lambda: hook.create_call(AGENT, "+14155550123", FROM, scheduled_at=datetime(2030, 1, 1)),
        lambda: hook.get_call(""),
        lambda: hook.list_calls(limit=101),
        lambda: hook.list_calls_cursor(limit=0),
        lambda: hook.iter_calls(page_size=500),
        lambda: hook.register_phone_number("555-0100"),
        lambda: hook.get_phone_number_by_number("0800"),
        lambda: hook.create_webhook("w", "not-a-url", ["call.ended"]),
        lambda: hook.call_url(" "),
    ]
    for bad in bad_calls:
        with pytest.raises(OneInboxInputError):
            bad()
    assert sim.stats()["requests_total"] == before


def test_hook_refuses_plain_http_to_remote_host(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json("http://api.oneinbox.ai"))
    hook = OneInboxHook()
    with pytest.raises(OneInboxConfigError, match="plain http"):
        hook.get_agent(AGENT)
    ok, message = hook.test_connection()
    assert not ok
    assert "plain http" in message
    assert sim.stats()["requests_total"] == 0


def test_hook_missing_key_names_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ONEINBOX_NOKEY", connection_json("http://127.0.0.1:9", api_key=""))
    with pytest.raises(OneInboxConfigError, match="oneinbox_nokey"):
        OneInboxHook(oneinbox_conn_id="oneinbox_nokey").get_agent(AGENT)


def test_hook_constructor_overrides_extras(sim: OneInboxSimulator) -> None:
    hook = OneInboxHook(timeout=2.5, max_retries=0)
    assert (hook.settings.timeout, hook.settings.max_retries) == (2.5, 0)
    assert OneInboxHook().settings.max_retries == 3


def test_hook_test_connection(sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = OneInboxHook().test_connection()
    assert ok, message
    assert sim.requests()[-1]["path"] == "/v1/agents"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sim.base_url, api_key="oi_sk_wrong")
    )
    ok, message = OneInboxHook().test_connection()
    assert not ok
    assert "401" in message
    assert "oi_sk_wrong" not in message


def test_hook_transport_error_when_nothing_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        connection_json(f"http://127.0.0.1:{free_port()}", max_retries=1, retry_wait_max=0.05),
    )
    with pytest.raises(OneInboxTransportError) as info:
        OneInboxHook().get_agent(AGENT)
    assert info.value.request_sent is False
    assert "not sent" in str(info.value)


def test_hook_tls_with_simulator_certificate(
    tls_sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tls_sim.base_url.startswith("https://")
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(tls_sim.base_url, verify=tls_sim.ca_cert_path)
    )
    assert OneInboxHook().get_agent(AGENT)["id"] == AGENT
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(tls_sim.base_url))
    before = tls_sim.stats()["connections_opened"]
    with pytest.raises(OneInboxTransportError, match="SSLError") as info:
        OneInboxHook().get_agent(AGENT)
    assert info.value.transient is False
    assert tls_sim.stats()["connections_opened"] - before <= 1
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(tls_sim.base_url, verify="/nonexistent/ca.pem")
    )
    with pytest.raises(OneInboxConfigError, match="CA bundle"):
        OneInboxHook().get_agent(AGENT)


def test_hook_identity() -> None:
    assert OneInboxHook.conn_type == "oneinbox"
    assert OneInboxHook.conn_name_attr == "oneinbox_conn_id"
    assert OneInboxHook.default_conn_name == "oneinbox_default"
    assert OneInboxHook.hook_name == "OneInbox"
    assert repr(OneInboxHook(oneinbox_conn_id="x")) == "OneInboxHook(oneinbox_conn_id='x')"
    assert TEST_API_KEY not in repr(OneInboxHook())


def test_connection_in_uri_form_from_the_environment(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's URI form: key in the password position, scheme as the path, extras as the query."""
    from urllib.parse import quote

    uri = f"oneinbox://:{quote(TEST_API_KEY, safe='')}@127.0.0.1:{sim.port}/http?timeout=7&max_retries=2"
    monkeypatch.setenv("AIRFLOW_CONN_ONEINBOX_DEFAULT", uri)
    hook = OneInboxHook()
    assert (hook.settings.base_url, hook.settings.timeout, hook.settings.max_retries) == (
        sim.base_url,
        7.0,
        2,
    )
    assert OneInboxHook().test_connection()[0] is True


def test_close_lets_go_of_the_pooled_connection_and_the_hook_stays_usable(sim: OneInboxSimulator) -> None:
    """What an operator calls when its task ends (``with OneInboxHook() as hook:`` does it too)."""
    hook = OneInboxHook()
    before = sim.stats()["connections_opened"]
    hook.get_agent(AGENT)
    hook.get_agent(AGENT)
    assert sim.stats()["connections_opened"] - before == 1, "one kept-alive connection"
    hook.close()
    hook.close()  # twice is harmless
    assert hook.get_agent(AGENT)["id"] == AGENT
    assert sim.stats()["connections_opened"] - before == 2, "closed, so the next request reconnects"
    hook.close()
