"""
Reading a OneInbox connection into the settings both hooks use.

Pure functions only, no I/O: the sync hook feeds them ``Connection.extra_dejson``, the async
hook the extra it read without blocking the event loop.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from airflow_provider_oneinbox import __version__
from airflow_provider_oneinbox.exceptions import OneInboxConfigError
from airflow_provider_oneinbox.hooks import DEFAULT_CONN_ID as DEFAULT_CONN_ID  # its public path before
from airflow_provider_oneinbox.hooks.headers import header_value_problem
from airflow_provider_oneinbox.validation import require_text

if TYPE_CHECKING:
    from airflow.sdk import Connection

DEFAULT_BASE_URL = "https://api.oneinbox.ai"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_RETRY_WAIT_MIN = 1.0
DEFAULT_RETRY_WAIT_MAX = 60.0
DEFAULT_CALL_URL_TEMPLATE = "https://app.oneinbox.ai/calls/{call_id}"
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
USER_AGENT = f"airflow-provider-oneinbox/{__version__}"

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class OneInboxSettings:
    """
    Everything a hook needs to talk to OneInbox, read once from the connection.

    :param conn_id: The Airflow connection id the settings come from.
    :param base_url: Scheme, host, optional port and path prefix, without trailing slash.
    :param api_key: The API key; never part of ``repr``.
    :param timeout: Seconds one request may take in all: connect, headers and body.
    :param max_retries: Retries after the first attempt of a request that may be retried.
    :param retry_wait_min: Smallest wait between attempts, in seconds.
    :param retry_wait_max: Largest single wait, in seconds; also caps ``Retry-After``.
    :param verify: Verify the server's TLS certificate (``True``), not (``False``), or
        against the CA bundle at this path.
    :param call_url_template: Dashboard link of a call, with a ``{call_id}`` placeholder.
    :param max_response_bytes: Largest response body read; a larger one fails.
    :param proxy: Proxy URL every request goes through (https API only); ``None`` for none.
        Proxies from the environment (``HTTPS_PROXY``, ...) are never used.
    :param scheme_defaulted: Whether the connection gave no scheme, so ``https`` was assumed
        (error messages then show how to ask for plain http).
    """

    conn_id: str
    base_url: str
    api_key: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_wait_min: float = DEFAULT_RETRY_WAIT_MIN
    retry_wait_max: float = DEFAULT_RETRY_WAIT_MAX
    verify: bool | str = True
    call_url_template: str = DEFAULT_CALL_URL_TEMPLATE
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    # A proxy URL may hold a password: never in a repr.
    proxy: str | None = field(default=None, repr=False)
    scheme_defaulted: bool = False

    @property
    def on_loopback(self) -> bool:
        """Whether the base URL's host is this machine."""
        return is_loopback_host(urlsplit(self.base_url).hostname or "")

    def headers(self, *, authorization: bool = True) -> dict[str, str]:
        """
        The headers every request carries.

        :param authorization: Include ``Authorization: Bearer <key>``; the sync hook sets it
            through a ``requests`` auth object instead, so ``.netrc`` cannot replace it.
        """
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if authorization:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def url(self, path: str) -> str:
        """
        The absolute URL of an API path.

        :param path: A path beginning with ``/v1/``.
        """
        return f"{self.base_url}{path}"

    def call_url(self, call_id: str) -> str:
        """
        The dashboard link of a call, from ``call_url_template``.

        :param call_id: The call's id (percent-encoded into the link).
        """
        return self.call_url_template.format(call_id=quote(require_text("call_id", call_id), safe=""))


def is_loopback_host(host: str) -> bool:
    """
    Whether ``host`` names this machine: ``localhost``, 127.0.0.0/8 or ``::1``.

    :param host: A hostname or IP literal, without brackets or port.
    """
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_base_url(conn_id: str, host: str | None, port: int | None, schema: str | None) -> str:
    """
    The API base URL from a connection's host, port and schema fields.

    ``host`` may be a full URL (``http://127.0.0.1:8123``) or a bare hostname, in which case
    ``schema`` gives the scheme (default ``https``) and ``port`` the port. The key may only
    travel over plain HTTP to a loopback host.

    :param conn_id: Connection id, named in errors.
    :param host: The connection's host field; empty for the public API.
    :param port: The connection's port field.
    :param schema: The connection's schema field, used as the scheme.
    """
    if not host or not host.strip():
        return DEFAULT_BASE_URL
    host = host.strip()
    raw = host if "://" in host else f"{(schema or 'https').strip().lower()}://{host}"
    parts = urlsplit(raw)
    try:
        url_port = parts.port
    except ValueError:
        raise OneInboxConfigError(f"Connection {conn_id!r}: invalid port in host {host!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OneInboxConfigError(
            f"Connection {conn_id!r}: host must be an http(s) URL or a hostname, got {host!r} "
            f"(scheme {parts.scheme!r})"
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise OneInboxConfigError(
            f"Connection {conn_id!r}: refusing to send the API key over plain http:// to "
            f"{parts.hostname!r}; use https:// (plain http is allowed for loopback hosts only)"
        )
    netloc = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if url_port is not None or port:
        netloc = f"{netloc}:{url_port or port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def _proxy(conn_id: str, value: Any, base_url: str) -> str | None:
    """The ``proxy`` extra: an http(s) URL, only for an https API (never the key in clear to it)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    # The value may hold a proxy password: errors describe it without quoting it.
    parts = urlsplit(value.strip()) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise OneInboxConfigError(
            f"Connection {conn_id!r}: extra 'proxy' must be an http:// or https:// proxy URL "
            "(e.g. http://proxy.internal:3128)"
        )
    if not base_url.startswith("https://"):
        raise OneInboxConfigError(
            f"Connection {conn_id!r}: extra 'proxy' is only used for an https:// API; the base URL "
            "is plain http (a loopback host), and the proxy would see the API key in clear"
        )
    return value.strip()


def _scheme_defaulted(host: str | None, schema: str | None) -> bool:
    """Whether a host was given without a scheme (in it, or as the URI's path), so https is assumed."""
    host = (host or "").strip()
    return bool(host) and "://" not in host and not (schema or "").strip()


def _api_key(conn_id: str, password: str | None) -> str:
    """The API key from the password field, checked for what a header cannot carry."""
    api_key = (password or "").strip()
    if not api_key:
        raise OneInboxConfigError(
            f"Connection {conn_id!r} has no API key: put the OneInbox key (oi_sk_...) in its password field"
        )
    problem = header_value_problem(api_key)
    if problem is not None:
        raise OneInboxConfigError(f"The API key of connection {conn_id!r} {problem}")
    return api_key


def _number(conn_id: str, name: str, value: Any, *, integer: bool = False, allow_zero: bool = False) -> Any:
    try:
        number = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = math.nan
    in_range = number > 0 or (allow_zero and number == 0)
    if not (math.isfinite(number) and in_range and (not integer or number.is_integer())):
        kind = "an integer" if integer else "a number"
        bound = ">= 0" if allow_zero else "> 0"
        raise OneInboxConfigError(
            f"Connection {conn_id!r}: extra {name!r} must be {kind} {bound}, got {value!r}"
        )
    return int(number) if integer else number


def _verify(conn_id: str, value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        return value.strip()
    raise OneInboxConfigError(
        f"Connection {conn_id!r}: extra 'verify' must be true, false or a CA bundle path"
    )


def settings_from_connection(
    conn: Connection,
    extra: dict[str, Any],
    *,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> OneInboxSettings:
    """
    Validate a connection into :class:`OneInboxSettings`; hook arguments override extras.

    :param conn: The Airflow connection (password = API key; host, port, schema = endpoint).
    :param extra: The connection's extra, already deserialized.
    :param timeout: Overrides the ``timeout`` extra.
    :param max_retries: Overrides the ``max_retries`` extra.
    """
    conn_id = conn.conn_id
    api_key = _api_key(conn_id, conn.password)
    wait_min = _number(conn_id, "retry_wait_min", extra.get("retry_wait_min", DEFAULT_RETRY_WAIT_MIN))
    wait_max = _number(conn_id, "retry_wait_max", extra.get("retry_wait_max", DEFAULT_RETRY_WAIT_MAX))
    if wait_max < wait_min:
        raise OneInboxConfigError(f"Connection {conn_id!r}: extra 'retry_wait_max' is below 'retry_wait_min'")
    template = str(extra.get("call_url_template") or DEFAULT_CALL_URL_TEMPLATE)
    try:
        template.format(call_id="call_x")
    except (KeyError, IndexError, ValueError):
        raise OneInboxConfigError(
            f"Connection {conn_id!r}: extra 'call_url_template' may only use the {{call_id}} placeholder"
        ) from None
    timeout_value = timeout if timeout is not None else extra.get("timeout", DEFAULT_TIMEOUT)
    retries_value = max_retries if max_retries is not None else extra.get("max_retries", DEFAULT_MAX_RETRIES)
    base_url = build_base_url(conn_id, conn.host, conn.port, conn.schema)
    max_bytes = extra.get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES)
    return OneInboxSettings(
        conn_id=conn_id,
        base_url=base_url,
        api_key=api_key,
        timeout=_number(conn_id, "timeout", timeout_value),
        max_retries=_number(conn_id, "max_retries", retries_value, integer=True, allow_zero=True),
        retry_wait_min=wait_min,
        retry_wait_max=wait_max,
        verify=_verify(conn_id, extra.get("verify", True)),
        call_url_template=template,
        max_response_bytes=_number(conn_id, "max_response_bytes", max_bytes, integer=True),
        proxy=_proxy(conn_id, extra.get("proxy"), base_url),
        scheme_defaulted=_scheme_defaulted(conn.host, conn.schema),
    )
