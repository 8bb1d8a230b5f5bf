"""OneInboxAsyncHook against the real simulator, each test driving its own ``asyncio.run``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from airflow_provider_oneinbox.exceptions import (
    OneInboxAuthError,
    OneInboxConfigError,
    OneInboxInputError,
    OneInboxInvalidIdError,
    OneInboxNotFoundError,
    OneInboxServerError,
    OneInboxTransportError,
    OneInboxValidationError,
)
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook
from airflow_provider_oneinbox.simulator import SEED_AGENT_IDS, OneInboxSimulator
from tests.conftest import CONN_ID, connection_json
from tests.conftest import use_simulator as _use
from tests.helpers.sockets import wait_until_listening

AGENT = SEED_AGENT_IDS[0]
FROM = "+14155550100"


def test_async_hook_endpoints_share_one_session(sim: OneInboxSimulator) -> None:
    calls = [OneInboxHook().create_call(AGENT, f"+1415555020{i}", FROM)["id"] for i in range(3)]
    before = sim.stats()["connections_opened"]

    async def scenario() -> dict[str, Any]:
        async with OneInboxAsyncHook() as hook:
            return {
                "call": await hook.get_call(calls[0]),
                "page": await hook.list_calls(agent_id=AGENT, limit=2, offset=1),
                "cursor": await hook.list_calls_cursor(limit=2),
                "agents": await hook.list_agents(limit=2),
                "agent": await hook.get_agent(AGENT),
                "stopped": await hook.stop_call(calls[1]),
            }

    result = asyncio.run(scenario())
    assert result["call"]["id"] == calls[0]
    assert (result["page"]["total"], len(result["page"]["items"]), result["page"]["offset"]) == (3, 2, 1)
    assert result["cursor"]["has_more"] is True
    assert result["agents"]["total"] == len(SEED_AGENT_IDS)
    assert result["agent"]["id"] == AGENT
    assert result["stopped"]["status"] in ("completed", "failed")
    assert sim.stats()["connections_opened"] - before == 1


def test_async_hook_one_off_without_context_manager(sim: OneInboxSimulator) -> None:
    hook = OneInboxAsyncHook()
    assert asyncio.run(hook.get_agent(AGENT))["id"] == AGENT
    assert asyncio.run(hook.list_agents())["total"] == len(SEED_AGENT_IDS)


def test_async_hook_never_looks_up_the_connection_on_the_event_loop(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync lookup may run in a worker thread (Airflow < 3.3.2's fallback), never on the loop's thread."""
    real_get_connection = OneInboxAsyncHook.get_connection.__func__  # type: ignore[attr-defined]
    loop_threads: set[int] = set()

    def guarded(cls: type, *args: object, **kwargs: object) -> object:
        assert threading.get_ident() not in loop_threads, "sync get_connection called on the event loop"
        return real_get_connection(cls, *args, **kwargs)

    monkeypatch.setattr(OneInboxAsyncHook, "get_connection", classmethod(guarded))

    async def scenario() -> str:
        loop_threads.add(threading.get_ident())
        async with OneInboxAsyncHook(timeout=4, max_retries=1) as hook:
            settings = await hook.get_settings()
            assert (settings.timeout, settings.max_retries) == (4.0, 1)
            return (await hook.get_agent(AGENT))["id"]

    assert asyncio.run(scenario()) == AGENT


def test_async_hook_error_classes(sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"

    async def missing(call_id: str) -> None:
        async with OneInboxAsyncHook() as hook:
            await hook.get_call(call_id)

    with pytest.raises(OneInboxNotFoundError) as info:
        asyncio.run(missing(unknown))
    assert (
        str(info.value) == f"OneInbox API GET /v1/calls/{unknown} failed with 404: call {unknown!r} not found"
    )
    with pytest.raises(OneInboxInvalidIdError) as malformed:
        asyncio.run(missing("call_missing"))
    assert (malformed.value.field, malformed.value.value) == ("call_id", "call_missing")
    assert len(sim.requests(path_prefix="/v1/calls/call_missing")) == 1

    async def out_of_range() -> None:
        from airflow_provider_oneinbox.hooks.api import ApiRequest

        async with OneInboxAsyncHook() as hook:
            await hook._request(ApiRequest("GET", "/v1/agents", params={"limit": "0"}))

    with pytest.raises(
        OneInboxValidationError, match=r"query\.limit: Input should be greater than or equal to 1"
    ):
        asyncio.run(out_of_range())
    _use(sim, monkeypatch)
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sim.base_url, api_key="oi_sk_wrong")
    )
    with pytest.raises(OneInboxAuthError, match="401"):
        asyncio.run(OneInboxAsyncHook().get_agent(AGENT))


def test_async_hook_validation_before_any_request(sim: OneInboxSimulator) -> None:
    async def scenario() -> None:
        async with OneInboxAsyncHook() as hook:
            for bad in (
                lambda: hook.get_call(""),
                lambda: hook.stop_call("   "),
                lambda: hook.list_calls(limit=0),
                lambda: hook.list_calls(offset=-1),
                lambda: hook.list_calls_cursor(limit=101),
                lambda: hook.list_agents(limit=1000),
                lambda: hook.get_agent(None),  # type: ignore[arg-type]
            ):
                with pytest.raises(OneInboxInputError):
                    await bad()

    before = sim.stats()["requests_total"]
    asyncio.run(scenario())
    assert sim.stats()["requests_total"] == before


def test_async_hook_retries_5xx_and_drops(sim: OneInboxSimulator) -> None:
    sim.set_faults(server_error_burst=2)
    assert asyncio.run(OneInboxAsyncHook().get_agent(AGENT))["id"] == AGENT
    assert [r["status"] for r in sim.requests()] == [500, 500, 200]
    sim.reset()
    sim.set_faults(drop_burst=1)
    assert asyncio.run(OneInboxAsyncHook().list_calls())["total"] == 0
    assert sim.stats()["faults_injected"]["drop"] == 1


def test_async_hook_workspace_reads_share_a_session_and_retry(sim: OneInboxSimulator) -> None:
    hook = OneInboxHook()
    number = hook.register_phone_number("+14155550210", agent_id=AGENT)
    webhook = hook.create_webhook("w", "https://example.invalid/h", ["call.ended"])
    sim.set_faults(server_error_burst=1, only_methods=["GET"])
    before = sim.stats()["connections_opened"]

    async def scenario() -> tuple[Any, ...]:
        async with OneInboxAsyncHook() as async_hook:
            return (
                await async_hook.get_usage(),
                await async_hook.get_inbound_routing(number["id"]),
                await async_hook.list_webhook_deliveries(webhook["id"], limit=5),
            )

    usage, routing, deliveries = asyncio.run(scenario())
    assert "calls_made_today" in usage
    assert routing["agent_id"] == AGENT
    assert deliveries == []
    assert [r["status"] for r in sim.requests(method="GET")] == [500, 200, 200, 200]
    assert sim.stats()["connections_opened"] - before == 1


def test_async_hook_retry_budget(sim: OneInboxSimulator) -> None:
    sim.set_faults(server_error_burst=50)
    with pytest.raises(OneInboxServerError):
        asyncio.run(OneInboxAsyncHook(max_retries=2).get_call("call_x"))
    assert len(sim.requests()) == 3


def test_async_hook_waits_out_retry_after(sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(sim, monkeypatch, retry_wait_max=2)
    sim.set_faults(rate_limit_burst=1, retry_after=1)
    started = time.monotonic()
    assert asyncio.run(OneInboxAsyncHook().get_agent(AGENT))["id"] == AGENT
    assert time.monotonic() - started >= 1.0
    assert [r["status"] for r in sim.requests()] == [429, 200]


def test_async_hook_does_not_block_the_loop(sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(sim, monkeypatch, retry_wait_max=0.5, retry_wait_min=0.3)
    sim.set_faults(latency=0.3, server_error_burst=1)

    async def scenario() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        task = asyncio.create_task(ticker())
        async with OneInboxAsyncHook() as hook:
            await hook.get_agent(AGENT)
        task.cancel()
        return ticks

    assert asyncio.run(scenario()) >= 20


def test_async_hook_transport_error_when_refused(sim: OneInboxSimulator) -> None:
    sim.refuse_connections(1)
    with pytest.raises(OneInboxTransportError, match="not sent") as info:
        asyncio.run(OneInboxAsyncHook(max_retries=1).get_agent(AGENT))
    assert info.value.request_sent is False
    wait_until_listening(sim)


def test_async_hook_tls(tls_sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(tls_sim.base_url, verify=tls_sim.ca_cert_path)
    )
    assert asyncio.run(OneInboxAsyncHook().get_agent(AGENT))["id"] == AGENT
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(tls_sim.base_url))
    with pytest.raises(OneInboxTransportError, match="Certificate") as info:
        asyncio.run(OneInboxAsyncHook().get_agent(AGENT))
    assert info.value.transient is False
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(tls_sim.base_url, verify="/nonexistent/ca.pem")
    )
    with pytest.raises(OneInboxConfigError, match="CA bundle"):
        asyncio.run(OneInboxAsyncHook().get_agent(AGENT))


def test_async_hook_refuses_plain_http_to_remote_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json("http://10.1.2.3:8080"))
    with pytest.raises(OneInboxConfigError, match="plain http"):
        asyncio.run(OneInboxAsyncHook().get_agent(AGENT))


def test_async_hook_sync_hook_import_does_not_load_aiohttp() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_oneinbox.hooks\n"
        "import airflow_provider_oneinbox.hooks.oneinbox\n"
        "import airflow_provider_oneinbox.validation\n"
        "print('aiohttp' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_hooks_on_one_loop_share_a_session_per_connection(
    sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many waits in one triggerer hold one pooled session (a few TLS connections), not one each."""
    monkeypatch.setenv("AIRFLOW_CONN_ONEINBOX_OTHER", connection_json(sim.base_url, timeout=7))
    call_ids = [OneInboxHook().create_call(AGENT, f"+1415555{i:04d}", FROM)["id"] for i in range(20)]

    async def scenario() -> tuple[int, bool, bool]:
        hooks = [OneInboxAsyncHook() for _ in call_ids]
        for hook in hooks:
            await hook.__aenter__()
        other = OneInboxAsyncHook(oneinbox_conn_id="oneinbox_other")
        await other.__aenter__()
        await asyncio.gather(*(hook.get_call(call_id) for hook, call_id in zip(hooks, call_ids, strict=True)))
        sessions = {id(hook._lease.session) for hook in hooks if hook._lease}
        opened = sim.stats()["connections_opened"]
        for hook, call_id in zip(hooks, call_ids, strict=True):  # one after another: keep-alive reuse
            await hook.get_call(call_id)
        assert sim.stats()["connections_opened"] == opened, "idle pooled connections are reused"
        assert other._lease is not None
        separate = other._lease.session is not hooks[0]._lease.session  # type: ignore[union-attr]
        shared = hooks[0]._lease.session  # type: ignore[union-attr]
        for hook in hooks[:-1]:
            await hook.close()
        still_open = not shared.closed
        await hooks[-1].close()
        await other.close()
        assert shared.closed, "the last hook out closes the shared session"
        return len(sessions), separate, still_open

    assert asyncio.run(scenario()) == (1, True, True)


def test_hooks_of_one_connection_share_a_session_whatever_their_max_retries(sim: OneInboxSimulator) -> None:
    """A wait polling with ``max_retries=0`` joins the session of the connection's other hooks."""

    async def scenario() -> tuple[int, int]:
        hooks = [OneInboxAsyncHook(max_retries=retries) for retries in (None, 0, 2)]
        for hook in hooks:
            await hook.__aenter__()
        retries = [(await hook.get_settings()).max_retries for hook in hooks]
        assert retries == [3, 0, 2]
        sessions = {id(hook._lease.session) for hook in hooks if hook._lease}
        other = OneInboxAsyncHook(timeout=7, max_retries=0)
        await other.__aenter__()
        separate = other._lease is not None and id(other._lease.session) not in sessions
        for hook in [*hooks, other]:
            await hook.close()
        return len(sessions), int(separate)

    assert asyncio.run(scenario()) == (1, 1), "one session per connection; another timeout, another session"
