"""Synchronous hook for the OneInbox voice-AI API (``requests``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from functools import cached_property
from typing import Any
from urllib.parse import quote

import requests
from airflow.sdk import BaseHook
from requests.auth import AuthBase
from tenacity import Retrying

from airflow_provider_oneinbox.exceptions import OneInboxConfigError, OneInboxError
from airflow_provider_oneinbox.hooks import api, paging, transport
from airflow_provider_oneinbox.hooks.api import ApiRequest, deadline_in
from airflow_provider_oneinbox.hooks.oneinbox_workspace import OneInboxWorkspaceMixin
from airflow_provider_oneinbox.hooks.records import call_page_of, call_record_of
from airflow_provider_oneinbox.hooks.responses import (
    decode_response,
    ended_call,
    items_of,
    next_cursor,
    next_offset,
    record_of,
    redact,
    stop_refusal_may_mean_ended,
)
from airflow_provider_oneinbox.hooks.retry import retry_kwargs
from airflow_provider_oneinbox.hooks.settings import (
    DEFAULT_CONN_ID,
    OneInboxSettings,
    settings_from_connection,
)
from airflow_provider_oneinbox.task_errors import AirflowNotFoundException
from airflow_provider_oneinbox.validation import (
    optional_text,
    require_e164,
    require_int_between,
    require_page_size,
    require_text,
)


class _BearerAuth(AuthBase):
    """Sets ``Authorization: Bearer``; as the session's auth it also keeps ``.netrc`` from replacing it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(token=***)"


class OneInboxHook(OneInboxWorkspaceMixin, BaseHook):
    """
    Talk to the OneInbox API: calls, agents, phone numbers, credentials and webhooks.

    The workspace endpoints (quota, call outcomes, integrations, inbound routing, webhook
    deliveries) come from :class:`~airflow_provider_oneinbox.hooks.oneinbox_workspace.OneInboxWorkspaceMixin`.

    One ``requests.Session`` per hook (connection pooling), created on first use; close it
    with :meth:`close` or use the hook as a context manager. Arguments are validated before
    anything is sent (``OneInboxInputError``). Errors are typed (see
    :mod:`airflow_provider_oneinbox.exceptions`) and never contain the API key.

    Retries, at most ``max_retries`` after the first attempt, full-jitter exponential backoff
    between ``retry_wait_min`` and ``retry_wait_max``, a 429's ``Retry-After`` honoured up to
    ``retry_wait_max``; each retry is logged at WARNING:

    * every method retries on **429** and on a **failed connect** (nothing was sent);
    * the methods safe to repeat also retry on **5xx, timeouts and dropped connections**:
      every ``get_*``/``list_*``/``iter_*``/``search_*`` method, :meth:`update_phone_number`,
      :meth:`update_call_outcome`, :meth:`update_call_outcome_definition`,
      :meth:`update_webhook`, :meth:`delete_webhook`, :meth:`stop_call` and :meth:`test_webhook`;
    * the methods that create or set something with a ``POST``, :meth:`create_call`,
      :meth:`create_web_call`, :meth:`create_credential`, :meth:`create_integration`,
      :meth:`register_phone_number`, :meth:`purchase_phone_number`, :meth:`create_webhook`,
      :meth:`create_call_outcome` and :meth:`set_inbound_routing`, **never** retry once the
      request may have reached the server: a 5xx, a read timeout or a dropped connection is
      raised at once. For :meth:`create_call` the error says the call may have been placed.

    :param oneinbox_conn_id: The OneInbox connection: password = API key, host = base URL
        (default ``https://api.oneinbox.ai``), extras ``timeout``, ``max_retries``,
        ``retry_wait_min``, ``retry_wait_max``, ``verify``, ``call_url_template``,
        ``max_response_bytes``, ``proxy``.
    :param timeout: Seconds one request may take in all (connect, headers and body); overrides
        the connection's ``timeout`` extra.
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
        self._session: requests.Session | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(oneinbox_conn_id={self.oneinbox_conn_id!r})"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """
        The connection form layout, for Airflow 3.1, which reads it from the hook.

        Airflow 3.2+ reads it from provider info (``ui-field-behaviour``) instead, where the
        extras get form fields of their own (``conn-fields``); 3.1 has no such fields, so the
        raw Extra field stays visible there.
        """
        from airflow_provider_oneinbox.get_provider_info import get_provider_info

        (connection_type,) = get_provider_info()["connection-types"]
        behaviour = connection_type["ui-field-behaviour"]
        return {
            "hidden_fields": [field for field in behaviour["hidden-fields"] if field != "extra"],
            "relabeling": behaviour["relabeling"],
            "placeholders": {**behaviour["placeholders"], "extra": '{"timeout": 30, "max_retries": 5}'},
        }

    @cached_property
    def settings(self) -> OneInboxSettings:
        """The connection's settings, read and validated once."""
        try:
            conn = self.get_connection(self.oneinbox_conn_id)
        except AirflowNotFoundException:
            # A OneInboxConfigError, so operators fail at once instead of burning their retries.
            raise OneInboxConfigError(
                f"Connection {self.oneinbox_conn_id!r} is not defined: create it (type 'oneinbox', "
                "the API key in its password) or pass the right oneinbox_conn_id"
            ) from None
        return settings_from_connection(
            conn, conn.extra_dejson, timeout=self.timeout, max_retries=self.max_retries
        )

    def get_conn(self) -> requests.Session:
        """The hook's ``requests.Session``, created on first use and reused."""
        if self._session is None:
            settings = self.settings
            if isinstance(settings.verify, str) and not os.path.exists(settings.verify):
                raise OneInboxConfigError(
                    f"Connection {settings.conn_id!r}: extra 'verify' names a CA bundle that does not "
                    f"exist: {settings.verify!r}"
                )
            session = transport.new_session(settings)
            session.auth = _BearerAuth(settings.api_key)
            self._session = session
        return self._session

    def close(self) -> None:
        """Close the session and its pooled connections; the next request opens a new one."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> OneInboxHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Sending

    def _request(self, request: ApiRequest, *, retry: bool = True) -> Any:
        if not retry:
            return self._send(request)
        return Retrying(**retry_kwargs(self.settings, request, self.log))(self._send, request)

    def _send(self, request: ApiRequest) -> Any:
        settings = self.settings
        answer = transport.send(self.get_conn(), settings, request)
        self.log.debug("OneInbox API %s answered %s", request.label, answer.status)
        return decode_response(request, answer.status, answer.body, answer.retry_after, settings.api_key)

    def _record(self, request: ApiRequest) -> dict[str, Any]:
        return record_of(self._request(request), request)

    def _items(self, request: ApiRequest) -> list[dict[str, Any]]:
        return items_of(self._request(request), request)

    @staticmethod
    def _paginate(
        fetch: Callable[[Any], dict[str, Any]],
        advance: Callable[[dict[str, Any], Any], Any],
        start: Any,
        max_items: int | None,
        *,
        claims_more: Callable[[dict[str, Any], Any], bool] = paging.cursor_claims_more,
        what: str = "a list",
        max_pages: int = paging.DEFAULT_MAX_PAGES,
        max_seconds: float = paging.DEFAULT_MAX_SECONDS,
    ) -> Iterator[dict[str, Any]]:
        """
        Yield the items of ``fetch(start)``, then of each following page, up to ``max_items``.

        Bounded: see :func:`airflow_provider_oneinbox.hooks.paging.walk`.

        :param fetch: Fetches the page at a token (a cursor or an offset).
        :param advance: The token of the page after ``page``, or ``None`` after the last.
        :param start: The first page's token.
        :param max_items: Stop after this many items; ``None`` for all.
        :param claims_more: Whether a page says more pages follow.
        :param what: What is walked, for errors.
        :param max_pages: Pages to read at most.
        :param max_seconds: Seconds the walk may take.
        :raises OneInboxPaginationError: When a bound or a lying page stopped the walk.
        """
        return paging.walk(
            fetch,
            advance,
            start,
            max_items,
            claims_more=claims_more,
            what=what,
            max_pages=max_pages,
            max_seconds=max_seconds,
        )

    # Credentials

    def create_credential(self, name: str, provider: str, api_key: str) -> dict[str, Any]:
        """
        Store a telephony provider's credential (``POST /v1/credentials``). Not retried once sent.

        :param name: A label for the credential.
        :param provider: The carrier, e.g. ``"twilio"`` or ``"telnyx"``.
        :param api_key: The carrier's key; stored encrypted by OneInbox and never returned.
        :return: ``{id, name, provider}``.
        """
        return self._record(api.create_credential(name, provider, api_key))

    def list_credentials(self) -> list[dict[str, Any]]:
        """List the stored telephony credentials (``GET /v1/credentials``)."""
        return self._items(api.list_credentials())

    # Phone numbers

    def register_phone_number(
        self,
        phone_number: str,
        agent_id: str | None = None,
        provider: str | None = None,
        credential_id: str | None = None,
        friendly_name: str | None = None,
        provider_config: dict[str, Any] | None = None,
        inbound_routing: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """
        Register a number you own with OneInbox (``POST /v1/phone-numbers``). Not retried once sent.

        :param phone_number: The number, E.164 (``"+14155550123"``).
        :param agent_id: Agent answering and placing calls on it.
        :param provider: The carrier, e.g. ``"twilio"``.
        :param credential_id: Stored carrier credential to use.
        :param friendly_name: A label.
        :param provider_config: SIP trunk settings ``{trunk_address, auth_username, auth_password}``.
        :param inbound_routing: ``{agent_id, fallback: {agent_id}, voicemail_message}``.
        :return: ``{id, phone_number, agent_id, status}``.
        """
        return self._record(
            api.register_phone_number(
                phone_number,
                agent_id,
                provider,
                credential_id,
                friendly_name,
                provider_config,
                inbound_routing,
            )
        )

    def update_phone_number(self, phone_number_id: str, agent_id: str) -> dict[str, Any]:
        """
        Assign a registered number to another agent (``PATCH /v1/phone-numbers/{id}``).

        :param phone_number_id: The number's id (``phn_...``), not the number itself.
        :param agent_id: The agent to assign.
        """
        return self._record(api.update_phone_number(phone_number_id, agent_id))

    def list_phone_numbers(self) -> list[dict[str, Any]]:
        """List the registered numbers (``GET /v1/phone-numbers``)."""
        return self._items(api.list_phone_numbers())

    def get_phone_number_by_number(self, phone_number: str) -> dict[str, Any] | None:
        """
        The registered number record for ``phone_number``, or ``None`` if not registered.

        :param phone_number: The number, E.164.
        """
        wanted = require_e164("phone_number", phone_number)
        return next((rec for rec in self.list_phone_numbers() if rec.get("phone_number") == wanted), None)

    def search_phone_numbers(
        self,
        country: str = "US",
        area_code: str | None = None,
        limit: int = 10,
        credential_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """
        Numbers available to buy from the carrier (``GET /v1/phone-numbers/search``).

        :param country: ISO country code.
        :param area_code: Area code to search in, e.g. ``"415"``.
        :param limit: Most numbers to return, 1..100.
        :param credential_id: Carrier credential to search with.
        """
        return self._items(api.search_phone_numbers(country, area_code, limit, credential_id))

    def purchase_phone_number(
        self,
        phone_number: str | None = None,
        country: str | None = None,
        area_code: str | None = None,
        agent_id: str | None = None,
        credential_id: str | None = None,
        friendly_name: str | None = None,
    ) -> dict[str, Any]:
        """
        Buy a number (``POST /v1/phone-numbers/purchase``). Costs money: not retried once sent.

        :param phone_number: The number to buy, E.164; leave out to be assigned one.
        :param country: ISO country code when no number is given.
        :param area_code: Preferred area code when no number is given.
        :param agent_id: Agent to assign the number to.
        :param credential_id: Carrier credential to buy with.
        :param friendly_name: A label.
        """
        return self._record(
            api.purchase_phone_number(
                phone_number, country, area_code, agent_id, credential_id, friendly_name
            )
        )

    # Calls

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
        :param timeout: Seconds the whole read may take, retries included; each attempt still
            gets at most the connection's ``timeout``. ``None``: no overall bound.
        """
        request = replace(api.get_call(call_id), deadline=deadline_in(timeout))
        return call_record_of(self._request(request), request)

    def stop_call(self, call_id: str) -> dict[str, Any]:
        """
        Hang up a live call (``POST /v1/calls/{id}/stop``); safe to repeat, so retried.

        Stopping a call that has already ended is not an error (the API documents a no-op and
        answers with the record). An API that refuses it with 400 or 409 instead ("already
        ended") gets the call read: if it is ``completed`` or ``failed`` its record is
        returned, else the refusal is raised.

        :param call_id: The call's id.
        :return: The call record.
        """
        try:
            request = api.stop_call(call_id)
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
        request = api.list_calls(agent_id, status, limit, offset)
        return call_page_of(self._request(request), request, cursor=False)

    def list_calls_cursor(
        self,
        agent_id: str | None = None,
        status: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """
        One page of calls by cursor (``GET /v1/calls/cursor``).

        :param agent_id: Only this agent's calls.
        :param status: Only calls in this status.
        :param limit: Page size, 1..100.
        :param cursor: ``next_cursor`` of the previous page; ``None`` for the first.
        :return: ``{items, next_cursor, has_more, limit}``.
        """
        request = api.list_calls_cursor(agent_id, status, limit, cursor)
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
        :param max_seconds: Seconds the walk may take, checked before each page (default 600).
        """
        self._check_paging(page_size, max_items, max_pages, max_seconds, agent_id=agent_id, status=status)
        return self._paginate(
            lambda cursor: self.list_calls_cursor(agent_id, status, page_size, cursor),
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
        :param max_seconds: Seconds the walk may take, checked before each page (default 600).
        """
        self._check_paging(page_size, max_items, max_pages, max_seconds, agent_id=agent_id, status=status)
        return self._paginate(
            lambda offset: self.list_calls(agent_id, status, page_size, offset),
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

    # Agents

    def list_agents(self, limit: int = 20, offset: int = 0) -> dict[str, Any]:
        """
        One page of agents (``GET /v1/agents``).

        :param limit: Page size, 1..100.
        :param offset: Agents to skip.
        :return: ``{items, total, limit, offset}``.
        """
        return self._record(api.list_agents(limit, offset))

    def iter_agents(
        self,
        page_size: int = 100,
        max_items: int | None = None,
        *,
        max_pages: int = paging.DEFAULT_MAX_PAGES,
        max_seconds: float = paging.DEFAULT_MAX_SECONDS,
    ) -> Iterator[dict[str, Any]]:
        """
        Every agent, walking offset pages; bounded like :meth:`iter_calls`.

        :param page_size: Agents per request, 1..100.
        :param max_items: Stop after this many agents; ``None`` for all.
        :param max_pages: Pages to read at most (default 1000).
        :param max_seconds: Seconds the walk may take, checked before each page (default 600).
        """
        self._check_paging(page_size, max_items, max_pages, max_seconds)
        return self._paginate(
            lambda offset: self._agent_page(page_size, offset),
            next_offset,
            0,
            max_items,
            claims_more=paging.offset_claims_more,
            what="GET /v1/agents",
            max_pages=max_pages,
            max_seconds=max_seconds,
        )

    def _agent_page(self, page_size: int, offset: int) -> dict[str, Any]:
        """One page of agents for :meth:`iter_agents`, its ``items`` checked to be a list."""
        request = api.list_agents(page_size, offset)
        page = record_of(self._request(request), request)
        if page.get("items") is not None:
            items_of(page, request)
        return page

    def get_agent(self, agent_id: str) -> dict[str, Any]:
        """
        The agent record (``GET /v1/agents/{id}``).

        :param agent_id: The agent's id.
        """
        return self._record(api.get_agent(agent_id))

    # Webhooks

    def create_webhook(self, name: str, url: str, events: list[str]) -> dict[str, Any]:
        """
        Subscribe a URL to events (``POST /v1/webhooks``). Not retried once sent.

        :param name: A label.
        :param url: The receiving http(s) URL.
        :param events: E.g. ``["call.ended", "call.analyzed"]``.
        :return: The webhook, including its signing ``secret``.
        """
        return self._record(api.create_webhook(name, url, events))

    def list_webhooks(self) -> list[dict[str, Any]]:
        """List the webhooks (``GET /v1/webhooks``)."""
        return self._items(api.list_webhooks())

    def update_webhook(
        self,
        webhook_id: str,
        name: str | None = None,
        url: str | None = None,
        events: list[str] | None = None,
        status: str | None = None,
    ) -> dict[str, Any]:
        """
        Change a webhook (``PATCH /v1/webhooks/{id}``); give at least one field.

        :param webhook_id: The webhook's id.
        :param name: New label.
        :param url: New http(s) URL.
        :param events: New list of events.
        :param status: E.g. ``"active"`` or ``"disabled"``.
        """
        return self._record(api.update_webhook(webhook_id, name, url, events, status))

    def delete_webhook(self, webhook_id: str) -> None:
        """
        Delete a webhook (``DELETE /v1/webhooks/{id}``).

        :param webhook_id: The webhook's id.
        """
        self._request(api.delete_webhook(webhook_id))

    def test_webhook(self, webhook_id: str) -> dict[str, Any]:
        """
        Have OneInbox send a test event to the webhook (``POST /v1/webhooks/{id}/test``).

        :param webhook_id: The webhook's id.
        """
        return self._record(api.test_webhook(webhook_id))

    # Other

    def test_connection(self) -> tuple[bool, str]:
        """
        One authenticated request, ``GET /v1/agents?limit=1``, without retries; never raises.

        :return: ``(True, message)`` when the API accepted the key, else ``(False, reason)``;
            the message never contains the key.
        """
        try:
            self._request(api.list_agents(limit=1), retry=False)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            settings = self.__dict__.get("settings")
            return False, redact(message, settings.api_key) if settings else message
        return True, f"Connected to OneInbox at {self.settings.base_url}"

    def call_url(self, call_id: str) -> str:
        """
        The dashboard link of a call, from the connection's ``call_url_template``.

        :param call_id: The call's id.
        """
        return self.settings.call_url_template.format(
            call_id=quote(require_text("call_id", call_id), safe="")
        )

    def _check_paging(
        self,
        page_size: int,
        max_items: int | None,
        max_pages: int = paging.DEFAULT_MAX_PAGES,
        max_seconds: float = paging.DEFAULT_MAX_SECONDS,
        **filters: str | None,
    ) -> None:
        require_page_size("page_size", page_size)
        paging.check_bounds(max_pages, max_seconds)
        if max_items is not None:
            require_int_between("max_items", max_items, 0)
        for name, value in filters.items():
            optional_text(name, value)
