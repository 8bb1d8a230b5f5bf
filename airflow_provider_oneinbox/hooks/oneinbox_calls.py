"""
The call endpoints of :class:`~airflow_provider_oneinbox.hooks.oneinbox.OneInboxHook`.

Placing, reading, stopping, listing and walking calls. These docstrings are the documentation
of the async hook's call methods too. Import the hook, not this mixin.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.hooks import api, paging
from airflow_provider_oneinbox.hooks.api import deadline_in
from airflow_provider_oneinbox.hooks.records import call_page_of, call_record_of
from airflow_provider_oneinbox.hooks.responses import (
    ended_call,
    next_cursor,
    next_offset,
    stop_refusal_may_mean_ended,
)
from airflow_provider_oneinbox.hooks.sync_endpoints import SyncEndpoints


class OneInboxCallsMixin(SyncEndpoints):
    """Call methods for ``OneInboxHook``; see it for the retry policy each follows."""

    def create_call(
        self,
        agent_id: str,
        to_number: str,
        from_number: str,
        variables: dict[str, Any] | None = None,
        webhook_url: str | None = None,
        scheduled_at: str | datetime | None = None,
        metadata: dict[str, Any] | None = None,
        overrides: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """
        Place an outbound call (``POST /v1/calls``): rings a real phone.

        Retried only when the API refused it (429) or no connection could be made. After a 5xx,
        a timeout or a dropped connection the call may have been placed: the error says so and
        the call is not retried.

        :param agent_id: The agent that speaks.
        :param to_number: Number to call, E.164 (``"+14155550123"``).
        :param from_number: Caller number, E.164, registered with OneInbox.
        :param variables: Values injected into the agent's first message and prompt (JSON object, <= 32 KB).
        :param webhook_url: URL receiving this call's events, overriding the workspace webhooks.
        :param scheduled_at: When to place the call: timezone-aware ``datetime`` or ISO 8601 string.
        :param metadata: Your own data, stored and returned with the call (JSON object, <= 32 KB).
        :param overrides: Per-call ``llm``/``transcriber``/``tts``/``first_message`` overrides.
        :param idempotency_key: Sent as ``Idempotency-Key``; OneInbox does not document honouring it.
        :return: The call record, ``status`` ``initiated`` (or ``queued`` when scheduled).
        """
        request = api.create_call(
            agent_id,
            to_number,
            from_number,
            variables=variables,
            webhook_url=webhook_url,
            scheduled_at=scheduled_at,
            metadata=metadata,
            overrides=overrides,
            idempotency_key=idempotency_key,
        )
        return call_record_of(self._request(request), request)

    def get_call(self, call_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """
        The call record (``GET /v1/calls/{id}``).

        :param call_id: The call's id.
        :param timeout: Seconds the whole read may take, retries and their pauses included (a
            wait bounds a poll by its own deadline); each attempt still gets at most the
            connection's ``timeout``. ``None``: no overall bound.
        """
        request = replace(api.get_call(call_id), deadline=deadline_in(timeout))
        return call_record_of(self._request(request), request)

    def stop_call(self, call_id: str, *, timeout: float | None = None) -> dict[str, Any]:
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
            return call_record_of(self._request(request), request)
        except OneInboxError as refused:
            if not stop_refusal_may_mean_ended(refused):
                raise
            call = ended_call(self._read_after_refused_stop(call_id))
            if call is None:
                raise
        self.log.info("Call %s had already ended (%s); nothing to stop", call_id, call.get("status"))
        return call

    def _read_after_refused_stop(self, call_id: str) -> dict[str, Any] | None:
        try:
            return self.get_call(call_id)
        except OneInboxError as exc:
            self.log.warning("Could not read call %s after its stop was refused: %s", call_id, exc)
            return None

    def update_call_outcome(self, call_id: str, outcome: str) -> dict[str, Any]:
        """
        Set the call's outcome (``PATCH /v1/calls/{id}``); OneInbox stores it in Title Case.

        :param call_id: The call's id.
        :param outcome: E.g. ``"Appointment Booked"``.
        """
        return self._record(api.update_call_outcome(call_id, outcome))

    def list_calls(
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
        return self._offset_page(agent_id, status, limit, offset, None)

    def list_calls_cursor(
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
        return self._cursor_page(agent_id, status, limit, cursor, deadline_in(timeout))

    def _offset_page(
        self, agent_id: str | None, status: str | None, limit: int, offset: int, deadline: float | None
    ) -> dict[str, Any]:
        request = replace(api.list_calls(agent_id, status, limit, offset), deadline=deadline)
        return call_page_of(self._request(request), request, cursor=False)

    def _cursor_page(
        self, agent_id: str | None, status: str | None, limit: int, cursor: str | None, deadline: float | None
    ) -> dict[str, Any]:
        request = replace(api.list_calls_cursor(agent_id, status, limit, cursor), deadline=deadline)
        return call_page_of(self._request(request), request, cursor=True)

    def iter_calls(
        self,
        agent_id: str | None = None,
        status: str | None = None,
        page_size: int = 100,
        max_items: int | None = None,
        *,
        max_pages: int = paging.DEFAULT_MAX_PAGES,
        max_seconds: float = paging.DEFAULT_MAX_SECONDS,
    ) -> Iterator[dict[str, Any]]:
        """
        Every call, newest first, walking cursor pages (stable while new calls arrive).

        The walk is bounded; it raises ``OneInboxPaginationError`` (never ends as if complete)
        when it reads ``max_pages`` pages and more follow, runs past ``max_seconds``, meets a
        cursor it was given before, or an empty page that says more follow.

        :param agent_id: Only this agent's calls.
        :param status: Only calls in this status.
        :param page_size: Calls per request, 1..100.
        :param max_items: Stop after this many calls; ``None`` for all.
        :param max_pages: Pages to read at most (default 1000).
        :param max_seconds: Seconds the walk may take, its page requests included (default 600).
        """
        paging.check_walk(page_size, max_items, max_pages, max_seconds, agent_id=agent_id, status=status)
        return paging.walk(
            lambda cursor, deadline: self._cursor_page(agent_id, status, page_size, cursor, deadline),
            lambda page, _cursor: next_cursor(page),
            None,
            max_items,
            claims_more=paging.cursor_claims_more,
            what="GET /v1/calls/cursor",
            max_pages=max_pages,
            max_seconds=max_seconds,
        )

    def iter_calls_offset(
        self,
        agent_id: str | None = None,
        status: str | None = None,
        page_size: int = 100,
        max_items: int | None = None,
        *,
        max_pages: int = paging.DEFAULT_MAX_PAGES,
        max_seconds: float = paging.DEFAULT_MAX_SECONDS,
    ) -> Iterator[dict[str, Any]]:
        """
        Every call, walking offset pages; calls placed meanwhile shift pages (prefer :meth:`iter_calls`).

        Bounded like :meth:`iter_calls` (an empty page before ``total`` is reached stops it).

        :param agent_id: Only this agent's calls.
        :param status: Only calls in this status.
        :param page_size: Calls per request, 1..100.
        :param max_items: Stop after this many calls; ``None`` for all.
        :param max_pages: Pages to read at most (default 1000).
        :param max_seconds: Seconds the walk may take, its page requests included (default 600).
        """
        paging.check_walk(page_size, max_items, max_pages, max_seconds, agent_id=agent_id, status=status)
        return paging.walk(
            lambda offset, deadline: self._offset_page(agent_id, status, page_size, offset, deadline),
            next_offset,
            0,
            max_items,
            claims_more=paging.offset_claims_more,
            what="GET /v1/calls",
            max_pages=max_pages,
            max_seconds=max_seconds,
        )

    def create_web_call(
        self,
        agent_id: str,
        variables: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """
        Start a browser call (``POST /v1/calls/web``). Not retried once sent.

        :param agent_id: The agent that speaks.
        :param variables: Values injected into the agent's prompt (JSON object).
        :param metadata: Your own data stored with the call (JSON object).
        :param overrides: Per-call model/voice overrides.
        :return: ``{id, server_url, participant_token}``.
        """
        return self._record(api.create_web_call(agent_id, variables, metadata, overrides))
