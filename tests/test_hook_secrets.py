"""Secret hygiene of both hooks: the API key never shows in logs, errors, chains or reprs."""

from __future__ import annotations

import asyncio
import base64
import logging
import pickle
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from structlog.testing import capture_logs

from airflow_provider_oneinbox.exceptions import OneInboxConfigError, OneInboxError
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook
from airflow_provider_oneinbox.simulator import SEED_AGENT_IDS, OneInboxSimulator
from tests.conftest import CONN_ID, TEST_API_KEY, connection_json
from tests.helpers.errors import exception_chain
from tests.helpers.loopback import Reply, loopback_connection
from tests.helpers.sockets import wait_until_listening

AGENT = SEED_AGENT_IDS[0]
FROM = "+14155550100"
WRONG_KEY = "oi_sk_wrong_9d8c7b6a5f4e3d2c1b0a"
CARRIER_KEY = "carrier_secret_1a2b3c4d5e6f"
SECRETS = (TEST_API_KEY, WRONG_KEY, CARRIER_KEY)


def _texts_of(error: BaseException) -> list[str]:
    texts = []
    for link in exception_chain(error):
        texts += [str(link), repr(link), repr(getattr(link, "detail", None)), repr(vars(link))]
    texts.append(repr(pickle.loads(pickle.dumps(error)).__dict__) if isinstance(error, OneInboxError) else "")
    return texts


def _spellings(secret: str) -> list[str]:
    """The secret as it is, percent-encoded and base64-encoded (as ``_echoes`` quotes it)."""
    return [
        secret,
        quote(secret, safe="").replace("_", "%5F"),
        base64.b64encode(f"u:{secret}".encode()).decode(),
    ]


def _assert_clean(texts: list[str], secrets: tuple[str, ...] = SECRETS) -> None:
    for text in texts:
        for secret in secrets:
            for spelling in _spellings(secret):
                assert spelling not in text, f"secret leaked into: {text[:200]}"


def _run_scenarios(sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], int]:
    texts: list[str] = []
    failures = 0

    def expect_failure(action: Callable[[], Any]) -> None:
        nonlocal failures
        with pytest.raises((OneInboxError, ValueError)) as info:
            action()
        failures += 1
        texts.extend(_texts_of(info.value))

    hook = OneInboxHook()
    texts += [repr(hook), repr(hook.settings), str(hook.settings), repr(hook.get_conn().auth)]
    texts.append(repr(hook.create_call(AGENT, "+14155550170", FROM, metadata={"m": 1})))
    texts.append(repr(hook.create_credential("main", "twilio", CARRIER_KEY)))
    texts.append(repr(hook.test_connection()))
    expect_failure(lambda: hook.create_credential("main", "not-a-carrier", CARRIER_KEY))
    sim.set_faults(server_error_burst=10)
    expect_failure(lambda: hook.get_agent(AGENT))
    sim.clear_faults()
    sim.set_faults(lose_create_response=1)
    expect_failure(lambda: hook.create_call(AGENT, "+14155550171", FROM))
    sim.clear_faults()
    expect_failure(lambda: hook.create_call(AGENT, "not-a-number", FROM))
    sim.refuse_connections(0.8)
    expect_failure(lambda: OneInboxHook(max_retries=0).get_agent(AGENT))

    async def async_scenario() -> None:
        async with OneInboxAsyncHook(max_retries=0) as async_hook:
            texts.extend([repr(async_hook), repr(await async_hook.get_settings())])
            await async_hook.get_agent(AGENT)

    expect_failure(lambda: asyncio.run(async_scenario()))  # still refused: transport error
    wait_until_listening(sim)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sim.base_url, api_key=WRONG_KEY))
    expect_failure(lambda: OneInboxHook().get_agent(AGENT))
    texts.append(repr(OneInboxHook().test_connection()))
    expect_failure(lambda: asyncio.run(OneInboxAsyncHook().get_agent(AGENT)))
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json("http://api.example.com", WRONG_KEY)
    )
    expect_failure(lambda: OneInboxHook().get_agent(AGENT))
    return texts, failures


def test_hook_secrets_never_leak(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "aiohttp", "asyncio", "airflow", "tenacity"):
        caplog.set_level(logging.DEBUG, logger=name)
    with capture_logs() as events:
        texts, failures = _run_scenarios(sim, monkeypatch)
    assert failures == 9
    assert any("may have been placed" in text for text in texts)
    assert any("Invalid API key" in text for text in texts)
    _assert_clean(texts)
    lines = [record.getMessage() for record in caplog.records] + [repr(event) for event in events]
    assert any(
        "/v1/agents" in record.getMessage() for record in caplog.records if record.name.startswith("urllib3")
    )
    assert sum(event.get("log_level") == "warning" for event in events) >= 3
    _assert_clean(lines)


def _escape_all(secret: str) -> str:
    """Every character JSON-escaped (``\\u006f\\u0069...``)."""
    return "".join(f"\\u{ord(char):04x}" for char in secret)


def _echoes(secret: str) -> list[Reply]:
    """Error bodies that quote ``secret`` in every shape the API reference allows."""
    escaped = f"\\u{ord(secret[0]):04x}{secret[1:]}"  # JSON may escape any character
    return [
        Reply(422, {"detail": f"Invalid carrier key {secret}"}),
        Reply(422, {"detail": f"bad key {secret}", "code": "INVALID_KEY"}),
        Reply(400, {"detail": {"code": "INVALID_KEY", "message": f"rejected {secret}", "input": secret}}),
        Reply(400, {"error": {"code": secret, "message": secret}}),
        Reply(422, {"detail": [{"loc": ["body", "api_key"], "msg": f"bad {secret}", "input": secret}]}),
        Reply(422, ('{"detail": "bad ' + escaped + '"}').encode()),
        Reply(422, b"carrier said no to " + secret.encode()),
        Reply(422, {"detail": f"bad key {quote(secret, safe='').replace('_', '%5F')}"}),
        Reply(400, {"detail": f"echo Basic {base64.b64encode(f'u:{secret}'.encode()).decode()}"}),
        Reply(422, ('{"detail": {"message": "' + _escape_all(secret) + '", "input": "x"}}').encode()),
        Reply(500, {"detail": f"upstream refused {secret}"}),
    ]


def test_body_secrets_never_leak_from_any_error_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    """The carrier key and a SIP password are redacted from errors however the API quotes them."""
    sip_password = "sip_pass_7e6d5c4b3a"
    replies = _echoes(CARRIER_KEY)
    script = {
        ("POST", "/v1/credentials"): replies,
        ("POST", "/v1/integrations"): replies,
        ("POST", "/v1/phone-numbers"): _echoes(sip_password),
    }
    texts: list[str] = []
    with loopback_connection(monkeypatch, script) as server:
        hook = OneInboxHook()
        for attempt in (
            lambda: hook.create_credential("main", "twilio", CARRIER_KEY),
            lambda: hook.create_integration("main", "twilio", CARRIER_KEY),
            lambda: hook.register_phone_number(
                "+14155550199",
                provider_config={"trunk_address": "sip.example", "auth_password": sip_password},
            ),
        ):
            for _ in replies:
                with pytest.raises(OneInboxError) as info:
                    attempt()
                texts.extend(_texts_of(info.value))
                texts.append(repr(info.value.code))
    assert len(server.requests(method="POST")) == 3 * len(replies)  # each reply seen once: none retried
    assert any("(code INVALID_KEY)" in text for text in texts)
    assert any("Invalid carrier key ***" in text for text in texts)
    _assert_clean(texts, (*SECRETS, sip_password))


def test_a_sip_password_given_as_a_model_is_redacted_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """``provider_config`` may be a ProviderConfig rather than a dict: its password is a secret too."""
    from airflow_provider_oneinbox.models.requests import ProviderConfig

    sip_password = "sip_pass_model_91a2b3"
    replies = _echoes(sip_password)
    texts: list[str] = []
    with loopback_connection(monkeypatch, {("POST", "/v1/phone-numbers"): replies}):
        hook = OneInboxHook()
        config = ProviderConfig(trunk_address="sip.example", auth_password=sip_password)
        for _ in replies:
            with pytest.raises(OneInboxError) as info:
                hook.register_phone_number("+14155550199", provider_config=config)  # type: ignore[arg-type]
            texts.extend(_texts_of(info.value))
    _assert_clean(texts, (sip_password,))


#: Keys pasted wrong, and the problem each error must name.
BAD_KEYS = {
    "oi_sk_first_half\noi_sk_second_half": "contains a line break: paste it on one line",
    "oi_sk_first_half\r\nsecond": "contains a line break",
    "oi_sk_with\ttab_inside": "contains a control character",
    "oi_sk_with space_inside": "contains a space",
    "oi_sk_caf\u00e9_key_12345": "contains a character that is not plain ASCII",
    "oi_sk_\u2018quoted\u2019_key": "contains a character that is not plain ASCII",
    "oi_sk_nul\x00_key": "contains a control character",
}


@pytest.mark.parametrize("key", sorted(BAD_KEYS), ids=range(len(BAD_KEYS)))
def test_a_key_a_header_cannot_carry_is_refused_when_the_connection_is_read(
    monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    with loopback_connection(monkeypatch, {}, api_key=key) as server:
        errors = []
        with pytest.raises(OneInboxConfigError) as sync_info:
            OneInboxHook().get_agent(AGENT)
        errors.append(sync_info.value)
        with pytest.raises(OneInboxConfigError) as async_info:
            asyncio.run(OneInboxAsyncHook().get_agent(AGENT))
        errors.append(async_info.value)
        ok, message = OneInboxHook().test_connection()
        assert server.requests() == []
    assert not ok
    for error in errors:
        assert f"The API key of connection {CONN_ID!r} {BAD_KEYS[key]}" in str(error)
        texts = [message, *_texts_of(error), repr(error.args)]
        for part in key.split():
            for text in texts:
                assert part not in text


def _key_echoes(key: str) -> list[Reply]:
    """401 bodies quoting the API key in the spellings a server might use."""
    return [
        Reply(401, ('{"detail": "Invalid API key ' + key[:3] + "\\u005f" + key[4:] + '"}').encode()),
        Reply(401, ('{"detail": "Invalid API key ' + _escape_all(key) + '"}').encode()),
        Reply(401, {"detail": f"bad {quote(key, safe='').replace('_', '%5f')}"}),
        Reply(401, {"detail": {"message": "no", "input": key, "header": f"Bearer {key}"}}),
        Reply(401, b"<html>Invalid key " + key.encode() + b"</html>"),
        Reply(403, {"error": {"message": base64.b64encode(f"Bearer {key}".encode()).decode()}}),
    ]


def test_a_401_echoing_the_key_in_any_spelling_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    replies = _key_echoes(TEST_API_KEY)
    path = f"/v1/agents/{AGENT}"
    with loopback_connection(monkeypatch, {("GET", path): replies * 2}):
        texts: list[str] = []
        for _ in replies:
            with pytest.raises(OneInboxError) as info:
                OneInboxHook().get_agent(AGENT)
            texts.extend(_texts_of(info.value))
        for _ in replies:
            with pytest.raises(OneInboxError) as info:
                asyncio.run(OneInboxAsyncHook().get_agent(AGENT))
            texts.extend(_texts_of(info.value))
    assert any("Invalid API key ***" in text for text in texts)
    escaped_key = TEST_API_KEY.replace("_", "%5f")
    for text in texts:
        assert TEST_API_KEY not in text
        assert escaped_key not in text
        assert base64.b64encode(f"Bearer {TEST_API_KEY}".encode()).decode() not in text
