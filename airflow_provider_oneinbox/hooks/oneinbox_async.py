"""
Asynchronous hook for the OneInbox API (``aiohttp``), for triggers.

Kept apart from :mod:`airflow_provider_oneinbox.hooks.oneinbox` so that DAG files, which import
the sync hook through the operators, never import ``aiohttp`` while being parsed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp
from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow.sdk import BaseHook
from tenacity import AsyncRetrying

from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.hooks import api, async_transport, session_pool
from airflow_provider_oneinbox.hooks.api import ApiRequest, deadline_in
from airflow_provider_oneinbox.hooks.records import call_page_of, call_record_of
from airflow_provider_oneinbox.hooks.responses import (
    decode_response,
    ended_call,
    items_of,
    record_of,
    stop_refusal_may_mean_ended,
)
from airflow_provider_oneinbox.hooks.retry import retry_kwargs
from airflow_provider_oneinbox.hooks.settings import (
    DEFAULT_CONN_ID,
    OneInboxSettings,
    settings_from_connection,
)


class OneInboxAsyncHook(BaseHook):
    """
    Read calls, agents, quota, inbound routing and webhook deliveries, and stop calls, from an
    event loop, for triggers.

    Use it as ``async with OneInboxAsyncHook(...) as hook:``: the connection is read once,
    without blocking the loop, and one ``aiohttp.ClientSession`` serves every request until
    the block ends. That session is shared by every hook on the same event loop with the same
    connection settings (see :mod:`~airflow_provider_oneinbox.hooks.session_pool`), so a
    triggerer full of waits holds a few TLS connections, not one per wait. Called outside
    ``async with``, each method opens and closes a session of its own.

    Same settings, validation, errors and retry policy as
    :class:`~airflow_provider_oneinbox.hooks.oneinbox.OneInboxHook`: every method here is safe
    to repeat, so each retries on 429, 5xx, timeouts and connection failures, at most
    ``max_retries`` times, waiting with ``asyncio.sleep``.

    :param oneinbox_conn_id: The OneInbox connection.
    :param timeout: Seconds one request may take in all (connect, headers, body; waiting for a
        pooled connection not counted); overrides the extra.
    :param max_retries: Retries after the first attempt; overrides the ``max_retries`` extra.
    """

    conn_name_attr = "oneinbox_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "oneinbox"
    hook_name = "OneInbox"

    def __init__(
        self,
        oneinbox_conn_id: str = default_conn_name,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        super().__init__()
        self.oneinbox_conn_id = oneinbox_conn_id
        self.timeout = timeout
        self.max_retries = max_retries
        self._settings: OneInboxSettings | None = None
        self._lease: session_pool.SessionLease | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(oneinbox_conn_id={self.oneinbox_conn_id!r})"

    async def get_settings(self) -> OneInboxSettings:
        """The connection's settings, read once through Airflow's async connection lookup."""
        if self._settings is None:
            conn = await get_async_connection(self.oneinbox_conn_id, hook=self)
            extra = await get_async_extra_dejson(conn)
            self._settings = settings_from_connection(
                conn, extra, timeout=self.timeout, max_retries=self.max_retries
            )
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
        retrying = AsyncRetrying(**retry_kwargs(settings, request, self.log))
        if self._lease is not None:
            return await retrying(self._send, self._lease.session, settings, request)
        session = await session_pool.new_session(settings)
        try:
            return await retrying(self._send, session, settings, request)
        finally:
            await session.close()

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

    # Endpoints

    async def get_call(self, call_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """
        The call record (``GET /v1/calls/{id}``).

        :param call_id: The call's id.
        :param timeout: Seconds the whole read may take, retries and their waits included (a
            trigger bounds a poll by its own deadline); each attempt still gets at most the
            connection's ``timeout``. ``None``: no overall bound.
        """
        request = replace(api.get_call(call_id), deadline=deadline_in(timeout))
        return call_record_of(await self._request(request), request)

    async def stop_call(self, call_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """
        Hang up a live call (``POST /v1/calls/{id}/stop``); safe to repeat, so retried.

        Stopping a call that has already ended is not an error (the API documents a no-op and
        answers with the record). An API that refuses it with 400 or 409 instead ("already
        ended") gets the call read: if it is ``completed`` or ``failed`` its record is
        returned, else the refusal is raised.

        :param call_id: The call's id.
        :param timeout: Seconds the stop may take, retries included (not the read after a
            refusal); ``None``: no overall bound.
        :return: The call record.
        """
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
        """
        One page of calls, newest first (``GET /v1/calls``).

        :param agent_id: Only this agent's calls.
        :param status: Only calls in this status.
        :param limit: Page size, 1..100.
        :param offset: Calls to skip.
        :return: ``{items, total, limit, offset}``.
        """
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
        """
        One page of calls by cursor (``GET /v1/calls/cursor``).

        :param agent_id: Only this agent's calls.
        :param status: Only calls in this status.
        :param limit: Page size, 1..100.
        :param cursor: ``next_cursor`` of the previous page; ``None`` for the first.
        :param timeout: Seconds the read may take, retries included; ``None``: no overall bound.
        :return: ``{items, next_cursor, has_more, limit}``.
        """
        request = replace(
            api.list_calls_cursor(agent_id, status, limit, cursor), deadline=deadline_in(timeout)
        )
        return call_page_of(await self._request(request), request, cursor=True)

    async def list_agents(self, limit: int = 20, offset: int = 0) -> dict[str, Any]:
        """
        One page of agents (``GET /v1/agents``).

        :param limit: Page size, 1..100.
        :param offset: Agents to skip.
        :return: ``{items, total, limit, offset}``.
        """
        return await self._record(api.list_agents(limit, offset))

    async def get_agent(self, agent_id: str) -> dict[str, Any]:
        """
        The agent record (``GET /v1/agents/{id}``).

        :param agent_id: The agent's id.
        """
        return await self._record(api.get_agent(agent_id))

    async def get_usage(self) -> dict[str, Any]:
        """
        The workspace's quota and usage (``GET /v1/usage``); daily figures reset at 00:00 UTC.

        :return: ``{calls_made_today, max_calls_per_day, calls_remaining_today, ...}``.
        """
        return await self._record(api.get_usage())

    async def get_inbound_routing(self, phone_number_id: str) -> dict[str, Any]:
        """
        Where calls to a number go (``GET /v1/phone-numbers/{id}/inbound-routing``).

        :param phone_number_id: The number's id, not the number itself.
        :return: ``{agent_id, fallback: {agent_id}, voicemail_message}``.
        """
        return await self._record(api.get_inbound_routing(phone_number_id))

    async def list_webhook_deliveries(
        self, webhook_id: str, limit: int | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """
        The delivery attempts of a webhook (``GET /v1/webhooks/{id}/deliveries``).

        :param webhook_id: The webhook's id.
        :param limit: Most attempts to return, 1..100; the API's default when ``None``.
        :param status: Only attempts in this status (sent only when given).
        :return: ``[{status, attempt, response_status, next_retry_at, ...}]``.
        """
        return await self._items(api.list_webhook_deliveries(webhook_id, limit, status))
