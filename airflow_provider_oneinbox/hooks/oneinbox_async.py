"""
Asynchronous hook for the OneInbox API (``aiohttp``), for triggers.

Kept apart from :mod:`airflow_provider_oneinbox.hooks.oneinbox` so that DAG files, which import
the sync hook through the operators, never import ``aiohttp`` while being parsed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp

from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.hooks import api, async_transport, session_pool
from airflow_provider_oneinbox.hooks._async_connection import get_async_connection, get_async_extra_dejson
from airflow_provider_oneinbox.hooks.api import ApiRequest, deadline_in
from airflow_provider_oneinbox.hooks.base import OneInboxBaseHook
from airflow_provider_oneinbox.hooks.records import call_page_of, call_record_of
from airflow_provider_oneinbox.hooks.responses import (
    decode_response,
    ended_call,
    items_of,
    record_of,
    stop_refusal_may_mean_ended,
)
from airflow_provider_oneinbox.hooks.retry import asend_with_retries
from airflow_provider_oneinbox.hooks.settings import OneInboxSettings


class OneInboxAsyncHook(OneInboxBaseHook):
    """
    Read calls, agents, quota, inbound routing and webhook deliveries, and stop calls, from an
    event loop, for triggers.

    The async face of :class:`~airflow_provider_oneinbox.hooks.oneinbox.OneInboxHook`: the
    same connection (read by id; the connection type is registered for ``OneInboxHook``
    only), settings, validation, errors and retry policy (see
    :class:`~airflow_provider_oneinbox.hooks.base.OneInboxBaseHook`), and its methods are
    ``OneInboxHook``'s of the same name, awaited, documented there. Every method here is safe
    to repeat, so each retries on 429, 5xx, timeouts and connection failures, at most
    ``max_retries`` times (``0``: never), pausing with ``asyncio.sleep``.

    Use it as ``async with OneInboxAsyncHook(...) as hook:``: the connection is read once,
    without blocking the loop, and one ``aiohttp.ClientSession`` serves every request until
    the block ends. That session is shared by every hook on the same event loop with the same
    connection (see :mod:`~airflow_provider_oneinbox.hooks.session_pool`), whatever its
    ``max_retries``, so a triggerer full of waits holds a few TLS connections, not one per
    wait. Called outside ``async with``, each method opens and closes a session of its own.

    :param oneinbox_conn_id: The OneInbox connection.
    :param timeout: Seconds one request may take in all (connect, headers, body; waiting for a
        pooled connection not counted); overrides the extra.
    :param max_retries: Retries after the first attempt; overrides the ``max_retries`` extra.
        ``0``: none (a wait that owns its backoff).
    """

    def __init__(
        self,
        oneinbox_conn_id: str = OneInboxBaseHook.default_conn_name,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        super().__init__(oneinbox_conn_id, timeout, max_retries)
        self._settings: OneInboxSettings | None = None
        self._lease: session_pool.SessionLease | None = None

    async def get_settings(self) -> OneInboxSettings:
        """The connection's settings, read once through Airflow's async connection lookup."""
        if self._settings is None:
            conn = await get_async_connection(self.oneinbox_conn_id, hook=self)
            extra = await get_async_extra_dejson(conn)
            self._settings = self._settings_from(conn, extra)
        return self._settings

    async def __aenter__(self) -> OneInboxAsyncHook:
        if self._lease is None:
            self._lease = await session_pool.acquire(await self.get_settings())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Give back the session taken by ``async with`` (the last hook sharing it closes it)."""
        if self._lease is not None:
            lease, self._lease = self._lease, None
            await session_pool.release(lease)

    # Sending

    async def _request(self, request: ApiRequest) -> Any:
        settings = await self.get_settings()
        if self._lease is not None:
            session = self._lease.session
            return await asend_with_retries(
                lambda: self._send(session, settings, request), settings, request, self.log
            )
        one_off = await session_pool.new_session(settings)
        try:
            return await asend_with_retries(
                lambda: self._send(one_off, settings, request), settings, request, self.log
            )
        finally:
            await one_off.close()

    async def _send(
        self, session: aiohttp.ClientSession, settings: OneInboxSettings, request: ApiRequest
    ) -> Any:
        answer = await async_transport.send(session, settings, request)
        self.log.debug("OneInbox API %s answered %s", request.label, answer.status)
        return decode_response(request, answer.status, answer.body, answer.retry_after, settings.api_key)

    async def _record(self, request: ApiRequest) -> dict[str, Any]:
        return record_of(await self._request(request), request)

    async def _items(self, request: ApiRequest) -> list[dict[str, Any]]:
        return items_of(await self._request(request), request)

    # Endpoints: each is OneInboxHook's method of the same name, awaited, and documented there.

    async def get_call(self, call_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Awaited :meth:`.OneInboxHook.get_call`: the call record."""
        request = replace(api.get_call(call_id), deadline=deadline_in(timeout))
        return call_record_of(await self._request(request), request)

    async def stop_call(self, call_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Awaited :meth:`.OneInboxHook.stop_call`; a call that had already ended is not an error."""
        try:
            request = replace(api.stop_call(call_id), deadline=deadline_in(timeout))
            return call_record_of(await self._request(request), request)
        except OneInboxError as refused:
            if not stop_refusal_may_mean_ended(refused):
                raise
            call = ended_call(await self._read_after_refused_stop(call_id))
            if call is None:
                raise
        self.log.info("Call %s had already ended (%s); nothing to stop", call_id, call.get("status"))
        return call

    async def _read_after_refused_stop(self, call_id: str) -> dict[str, Any] | None:
        try:
            return await self.get_call(call_id)
        except OneInboxError as exc:
            self.log.warning("Could not read call %s after its stop was refused: %s", call_id, exc)
            return None

    async def list_calls(
        self, agent_id: str | None = None, status: str | None = None, limit: int = 20, offset: int = 0
    ) -> dict[str, Any]:
        """Awaited :meth:`.OneInboxHook.list_calls`: one page of calls by offset."""
        request = api.list_calls(agent_id, status, limit, offset)
        return call_page_of(await self._request(request), request, cursor=False)

    async def list_calls_cursor(
        self,
        agent_id: str | None = None,
        status: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Awaited :meth:`.OneInboxHook.list_calls_cursor`: one page of calls by cursor."""
        request = replace(
            api.list_calls_cursor(agent_id, status, limit, cursor), deadline=deadline_in(timeout)
        )
        return call_page_of(await self._request(request), request, cursor=True)

    async def list_agents(self, limit: int = 20, offset: int = 0) -> dict[str, Any]:
        """Awaited :meth:`.OneInboxHook.list_agents`: one page of agents."""
        return await self._record(api.list_agents(limit, offset))

    async def get_agent(self, agent_id: str) -> dict[str, Any]:
        """Awaited :meth:`.OneInboxHook.get_agent`: the agent record."""
        return await self._record(api.get_agent(agent_id))

    async def get_usage(self) -> dict[str, Any]:
        """Awaited :meth:`.OneInboxHook.get_usage`: the workspace's quota and usage."""
        return await self._record(api.get_usage())

    async def list_phone_numbers(self) -> list[dict[str, Any]]:
        """Awaited :meth:`.OneInboxHook.list_phone_numbers`: the registered numbers."""
        return await self._items(api.list_phone_numbers())

    async def get_inbound_routing(self, phone_number_id: str) -> dict[str, Any]:
        """Awaited :meth:`.OneInboxHook.get_inbound_routing`: where calls to a number go."""
        return await self._record(api.get_inbound_routing(phone_number_id))

    async def list_webhook_deliveries(
        self, webhook_id: str, limit: int | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Awaited :meth:`.OneInboxHook.list_webhook_deliveries`: a webhook's delivery attempts."""
        return await self._items(api.list_webhook_deliveries(webhook_id, limit, status))
