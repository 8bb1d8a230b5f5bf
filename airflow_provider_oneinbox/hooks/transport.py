"""
How the sync hook sends one request with ``requests``: one total deadline, a size cap, no
environment proxies, and failures told apart (nothing sent, cut off, too slow, too large).

**One deadline per request.** ``requests``' ``timeout`` bounds each socket read, so a server
sending a byte every few seconds (headers or body) never trips it. Each request therefore has
a watchdog (a timer thread) that, when the deadline passes, shuts the request's socket down:
whatever read is blocked returns at once, and the exchange fails as a timeout. This was chosen
over short per-read timeouts against a monotonic deadline because those cannot reach the
header phase, which ``http.client`` reads in one call. The socket is found through urllib3
connection classes of our own, which register with the request's watch when they connect or
send (a thread-local, so concurrent hooks in other threads are not affected).

**Size cap.** The body is streamed (``stream=True``) in 64 KiB pieces: a ``Content-Length``
past ``max_response_bytes`` fails before reading, a body growing past it fails as soon as it
does, and nothing beyond the cap is buffered.

**No environment.** The session does not trust the environment (``trust_env=False``):
``HTTP(S)_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, ``.netrc`` and ``REQUESTS_CA_BUNDLE`` are all
ignored. A proxy is used only when the connection's ``proxy`` extra names one, and TLS trust
comes only from the ``verify`` extra (passed with every request).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import MaxRetryError

from airflow_provider_oneinbox.exceptions import OneInboxError, OneInboxTimeoutError, OneInboxTransportError
from airflow_provider_oneinbox.hooks import failures
from airflow_provider_oneinbox.hooks.api import ApiRequest
from airflow_provider_oneinbox.hooks.responses import transport_error
from airflow_provider_oneinbox.hooks.settings import OneInboxSettings

#: Bytes read from the body at a time.
CHUNK_BYTES = 64 * 1024

_PERMANENT = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
)
_CUT = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)


class RequestWatch:
    """
    The deadline of one request, and the connection it is using (to cut it when time is up).

    :param budget: Seconds the whole exchange may take.
    """

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.connected = False
        self.expired = False
        self._connection: HTTPConnection | None = None
        self._lock = threading.Lock()

    def attach(self, connection: HTTPConnection, *, connected: bool) -> None:
        """Record the connection in use; cut it at once if the deadline has already passed."""
        with self._lock:
            self._connection = connection
            self.connected = self.connected or connected
            expired = self.expired
        if expired:
            _shut(connection)

    def expire(self) -> None:
        """The deadline passed: shut the connection's socket so that a blocked read returns."""
        with self._lock:
            self.expired = True
            connection = self._connection
        if connection is not None:
            _shut(connection)


def _shut(connection: HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        # socket.socket's own shutdown, not SSLSocket's (which drops its TLS object under a
        # read that may be running in the hook's thread).
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


_CURRENT = threading.local()


def _current_watch() -> RequestWatch | None:
    return getattr(_CURRENT, "watch", None)


class _WatchedConnectionMixin:
    """Registers the connection with the thread's current :class:`RequestWatch`."""

    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        watch = _current_watch()
        if watch is not None:
            watch.attach(self, connected=True)  # type: ignore[arg-type]

    def request(self, *args: Any, **kwargs: Any) -> None:
        watch = _current_watch()
        if watch is not None:
            # A reused connection is already connected; a new one connects inside this call.
            watch.attach(self, connected=self.sock is not None)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOL_CLASSES = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """``HTTPAdapter`` whose connections (direct or through a proxy) register with the request's watch."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOL_CLASSES
        return manager


def new_session(settings: OneInboxSettings) -> requests.Session:
    """
    A session that ignores the environment and watches every request's deadline.

    :param settings: The connection's settings (headers; the proxy is passed per request).
    """
    session = requests.Session()
    session.trust_env = False
    adapter = WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update(settings.headers(authorization=False))
    return session


@dataclass(frozen=True)
class Answer:
    """
    A response read whole (within the cap).

    :param status: HTTP status.
    :param body: The body.
    :param retry_after: Its ``Retry-After`` header.
    """

    status: int
    body: bytes
    retry_after: str | None


def budget_for(settings: OneInboxSettings, request: ApiRequest) -> float:
    """
    Seconds one attempt of ``request`` may take: ``timeout``, less if its deadline is nearer.

    :param settings: The connection's settings.
    :param request: The request, with its optional overall ``deadline``.
    """
    if request.deadline is None:
        return settings.timeout
    return min(settings.timeout, request.deadline - time.monotonic())


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The ``Content-Length`` a response declares, ``None`` if none (or unreadable)."""
    value = headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def is_framed(headers: Mapping[str, str]) -> bool:
    """Whether the body's end is marked (a length or chunks) rather than by the connection closing."""
    return declared_length(headers) is not None or "chunked" in headers.get("Transfer-Encoding", "").lower()


def no_body_expected(status: int) -> bool:
    """Statuses that never carry a body."""
    return status < 200 or status in (204, 304)


def _reason(error: BaseException) -> str:
    """The innermost useful description; urllib3's "Max retries exceeded" wrapper says nothing here."""
    inner: BaseException = error
    if error.args and isinstance(error.args[0], MaxRetryError) and error.args[0].reason is not None:
        inner = error.args[0].reason
    return f"{type(error).__name__}: {inner}"


def send(session: requests.Session, settings: OneInboxSettings, request: ApiRequest) -> Answer:
    """
    Send ``request`` once and read its answer, or raise the typed error.

    :param session: A session from :func:`new_session` (its auth sets the key).
    :param settings: The connection's settings.
    :param request: The request.
    """
    budget = budget_for(settings, request)
    if budget <= 0:
        raise failures.timeout_failure(settings, request, 0.0, request_sent=False)
    watch = RequestWatch(budget)
    timer = threading.Timer(budget, watch.expire)
    timer.daemon = True
    failure: OneInboxError | None = None
    _CURRENT.watch = watch
    timer.start()
    try:
        return _exchange(session, settings, request, watch)
    except OneInboxError as exc:
        failure = exc
    except requests.RequestException as exc:
        failure = _classify(settings, request, watch, exc)
    except ValueError as exc:  # a header or body the client cannot encode (UnicodeEncodeError, ...)
        failure = failures.unsendable(settings, request, exc)
    finally:
        timer.cancel()
        _CURRENT.watch = None
    assert failure is not None
    if (
        watch.expired
        and isinstance(failure, OneInboxTransportError)
        and not isinstance(failure, OneInboxTimeoutError)
    ):
        # Whatever broke, it broke because the watchdog cut the connection.
        failure = failures.timeout_failure(settings, request, budget, request_sent=watch.connected)
    # Raised outside the ``except`` so the client's exception (which holds the prepared request,
    # headers included) is not chained to it.
    raise failure


def _exchange(
    session: requests.Session, settings: OneInboxSettings, request: ApiRequest, watch: RequestWatch
) -> Answer:
    response = session.request(
        request.method,
        settings.url(request.path),
        params=request.params,
        json=request.json,
        headers=dict(request.headers) or None,
        timeout=(watch.budget, settings.timeout),
        # Per request: trust comes from the ``verify`` extra only.
        verify=settings.verify,
        proxies={"https": settings.proxy} if settings.proxy else None,
        allow_redirects=False,
        stream=True,
    )
    with response:
        status, headers = response.status_code, response.headers
        declared = declared_length(headers)
        if declared is not None and declared > settings.max_response_bytes:
            raise failures.too_large(settings, request, status, declared)
        body = bytearray()
        for chunk in response.iter_content(CHUNK_BYTES):
            body += chunk
            if len(body) > settings.max_response_bytes:
                raise failures.too_large(settings, request, status, None)
    if watch.expired:
        # A close-delimited body "ends" when the watchdog shuts the socket.
        raise failures.timeout_failure(settings, request, watch.budget, request_sent=True)
    if not body and not is_framed(headers) and not no_body_expected(status):
        raise failures.cut_after_head(settings, request, status)
    return Answer(status, bytes(body), headers.get("Retry-After"))


def _classify(
    settings: OneInboxSettings, request: ApiRequest, watch: RequestWatch, error: requests.RequestException
) -> OneInboxError:
    reason = _reason(error)
    if watch.expired:
        return failures.timeout_failure(settings, request, watch.budget, request_sent=watch.connected)
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return failures.timeout_failure(settings, request, watch.budget, request_sent=False)
    if isinstance(error, _PERMANENT):
        return transport_error(request, reason, request_sent=False, secret=settings.api_key, transient=False)
    if not watch.connected:
        if isinstance(error, requests.exceptions.SSLError):
            return failures.tls_failure(settings, request, reason)
        return failures.connect_failure(settings, request, reason)
    if isinstance(error, _CUT):
        return failures.dropped(settings, request, "the response was cut off", reason)
    if isinstance(error, requests.exceptions.ReadTimeout):
        return failures.timeout_failure(settings, request, watch.budget, request_sent=True)
    return failures.dropped(settings, request, "the connection broke", reason)
