"""
What the sync and the async OneInbox hook share: the connection, its settings, the retry policy.

:class:`~airflow_provider_oneinbox.hooks.oneinbox.OneInboxHook` (``requests``, for tasks) and
:class:`~airflow_provider_oneinbox.hooks.oneinbox_async.OneInboxAsyncHook` (``aiohttp``, for
triggers) are two faces of one hook: both derive from :class:`OneInboxBaseHook`, which holds
their arguments, the reading of the connection and the documentation of both. The endpoint
methods are documented once, on ``OneInboxHook``; the async face's methods refer to them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_oneinbox.hooks.settings import (
    DEFAULT_CONN_ID,
    OneInboxSettings,
    settings_from_connection,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection


class OneInboxBaseHook(BaseHook):
    """
    Base of both OneInbox hooks: the connection they read and how they send to the API.

    **The connection** (type ``oneinbox``): password = API key, host = base URL (default
    ``https://api.oneinbox.ai``; plain ``http://`` only to a loopback host), extras ``timeout``,
    ``max_retries``, ``retry_wait_min``, ``retry_wait_max``, ``verify``, ``call_url_template``,
    ``max_response_bytes``, ``proxy`` (see
    :class:`~airflow_provider_oneinbox.hooks.settings.OneInboxSettings`). It is read and
    validated once per hook; errors are typed (see :mod:`airflow_provider_oneinbox.exceptions`)
    and never contain the API key. Arguments are validated before anything is sent
    (``OneInboxInputError``).

    **Retries** (:mod:`~airflow_provider_oneinbox.hooks.retry`): at most ``max_retries`` after
    the first attempt, pausing as :func:`~airflow_provider_oneinbox.rules.backoff.backoff_delay`
    says (``retry_wait_min`` doubling, jittered, at most ``retry_wait_max``, at least a 429's
    ``Retry-After``); each retry is logged at WARNING. ``max_retries=0`` turns them off: a
    caller that owns its own backoff (a wait polling a call) gets every failure after exactly
    one request.

    * every method retries on **429** and on a **failed connect** (nothing was sent);
    * the methods safe to repeat also retry on **5xx, timeouts and dropped connections**:
      every ``get_*``/``list_*``/``iter_*``/``search_*`` method, ``update_phone_number``,
      ``update_call_outcome``, ``update_call_outcome_definition``, ``update_webhook``,
      ``delete_webhook``, ``stop_call`` and ``test_webhook``;
    * the methods that create or set something with a ``POST``, ``create_call``,
      ``create_web_call``, ``create_credential``, ``create_integration``,
      ``register_phone_number``, ``purchase_phone_number``, ``create_webhook``,
      ``create_call_outcome`` and ``set_inbound_routing``, **never** retry once the request may
      have reached the server: a 5xx, a read timeout or a dropped connection is raised at once.
      For ``create_call`` the error says the call may have been placed.

    :param oneinbox_conn_id: The OneInbox connection.
    :param timeout: Seconds one request may take in all (connect, headers and body); overrides
        the connection's ``timeout`` extra.
    :param max_retries: Retries after the first attempt; overrides the ``max_retries`` extra.
        ``0``: none.
    """

    conn_name_attr = "oneinbox_conn_id"
    default_conn_name = DEFAULT_CONN_ID

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

    def __repr__(self) -> str:
        return f"{type(self).__name__}(oneinbox_conn_id={self.oneinbox_conn_id!r})"

    def _settings_from(self, conn: Connection, extra: dict[str, Any]) -> OneInboxSettings:
        """
        Validate the connection into settings, this hook's arguments overriding its extras.

        :param conn: The connection read for ``oneinbox_conn_id``.
        :param extra: Its extra, deserialized.
        """
        return settings_from_connection(conn, extra, timeout=self.timeout, max_retries=self.max_retries)
