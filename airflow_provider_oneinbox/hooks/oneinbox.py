"""
Synchronous hook for the OneInbox voice-AI API (``requests``): the hook tasks use.

Its endpoints are grouped by resource in mixins (:mod:`.oneinbox_calls`,
:mod:`.oneinbox_account`, :mod:`.oneinbox_workspace`); what it shares with the async hook
(arguments, connection, retry policy) is :class:`~airflow_provider_oneinbox.hooks.base.OneInboxBaseHook`.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any

import requests
from requests.auth import AuthBase

from airflow_provider_oneinbox.exceptions import OneInboxConfigError
from airflow_provider_oneinbox.hooks import api, transport
from airflow_provider_oneinbox.hooks.api import ApiRequest
from airflow_provider_oneinbox.hooks.base import OneInboxBaseHook
from airflow_provider_oneinbox.hooks.oneinbox_account import OneInboxAccountMixin
from airflow_provider_oneinbox.hooks.oneinbox_calls import OneInboxCallsMixin
from airflow_provider_oneinbox.hooks.oneinbox_workspace import OneInboxWorkspaceMixin
from airflow_provider_oneinbox.hooks.responses import decode_response, redact
from airflow_provider_oneinbox.hooks.retry import send_with_retries
from airflow_provider_oneinbox.hooks.settings import OneInboxSettings
from airflow_provider_oneinbox.task_errors import AirflowNotFoundException


class _BearerAuth(AuthBase):
    """Sets ``Authorization: Bearer``; as the session's auth it also keeps ``.netrc`` from replacing it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(token=***)"


class OneInboxHook(OneInboxCallsMixin, OneInboxAccountMixin, OneInboxWorkspaceMixin, OneInboxBaseHook):
    """
    Talk to the OneInbox API: calls, agents, phone numbers, credentials, webhooks and the workspace.

    The one class registered for the ``oneinbox`` connection type (``conn_type``, the form);
    :class:`~airflow_provider_oneinbox.hooks.oneinbox_async.OneInboxAsyncHook` reads the same
    connections by id. Connection, validation, errors and the retry policy of every method:
    see :class:`~airflow_provider_oneinbox.hooks.base.OneInboxBaseHook`.

    One ``requests.Session`` per hook (connection pooling), created on first use; close it
    with :meth:`close` or use the hook as a context manager (``with OneInboxHook() as hook:``).

    :param oneinbox_conn_id: The OneInbox connection.
    :param timeout: Seconds one request may take in all (connect, headers and body); overrides
        the connection's ``timeout`` extra.
    :param max_retries: Retries after the first attempt; overrides the ``max_retries`` extra.
        ``0``: none.
    """

    conn_type = "oneinbox"
    hook_name = "OneInbox"

    def __init__(
        self,
        oneinbox_conn_id: str = OneInboxBaseHook.default_conn_name,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        super().__init__(oneinbox_conn_id, timeout, max_retries)
        self._session: requests.Session | None = None

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
        return self._settings_from(conn, conn.extra_dejson)

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
        return send_with_retries(lambda: self._send(request), self.settings, request, self.log)

    def _send(self, request: ApiRequest) -> Any:
        settings = self.settings
        answer = transport.send(self.get_conn(), settings, request)
        self.log.debug("OneInbox API %s answered %s", request.label, answer.status)
        return decode_response(request, answer.status, answer.body, answer.retry_after, settings.api_key)

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
        return self.settings.call_url(call_id)
