"""
How the async hook sends one request with ``aiohttp``: one total deadline, a size cap, an
explicit proxy only, no resending by aiohttp itself, and failures told apart.

**One deadline per request.** Connect, headers and body must end within ``timeout`` seconds
(``asyncio.timeout`` around the exchange). aiohttp's ``ClientTimeout(total=...)`` would also
count the time a request waits for a free connection of the shared pool, which is queueing,
not a failure: a triggerer with thousands of waits would time them out for being busy. So the
deadline is paused while the request is queued for a connection (aiohttp's tracing signals),
and restarted with the full budget once it has one. A request with an overall ``deadline``
(``ApiRequest.deadline``, e.g. a trigger bounding a poll by its own deadline) never runs past
that, queued or not.

**Size cap.** The body is read in 64 KiB pieces, so nothing past ``max_response_bytes`` is
buffered; a ``Content-Length`` past it fails before reading.

**No resending.** aiohttp re-sends an idempotent request once, on its own, when the server
closes the connection under it; :func:`disable_builtin_retry` turns that off, so only the
provider's retry policy (which knows what is safe to repeat, and counts) retries.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import aiohttp

from airflow_provider_oneinbox import _compat
from airflow_provider_oneinbox.exceptions import OneInboxError
from airflow_provider_oneinbox.hooks import failures
from airflow_provider_oneinbox.hooks.api import ApiRequest
from airflow_provider_oneinbox.hooks.responses import transport_error
from airflow_provider_oneinbox.hooks.settings import OneInboxSettings
from airflow_provider_oneinbox.hooks.transport import (
    CHUNK_BYTES,
    Answer,
    budget_for,
    is_framed,
    no_body_expected,
)

_TLS = (aiohttp.ClientConnectorCertificateError, aiohttp.ClientConnectorSSLError)
#: What the exchange may raise that :func:`_classify` turns into a OneInbox error.
_EXCHANGE_FAILURES: tuple[type[Exception], ...] = (aiohttp.ClientError, *_compat.TIMEOUT_ERRORS)


class RequestClock:
    """
    The deadline of one request, paused while it waits for a pooled connection.

    :param timer: The ``asyncio.timeout`` (``_compat.timeout``) around the exchange.
    :param budget: Seconds the exchange may take once it has a connection.
    :param deadline: Loop time it may never run past, ``None`` for none.
    """

    def __init__(self, timer: _compat.Timeout, budget: float, deadline: float | None) -> None:
        self.timer = timer
        self.budget = budget
        self.deadline = deadline
        self.connected = False

    def start(self) -> None:
        """(Re)start the budget from now."""
        when = asyncio.get_running_loop().time() + self.budget
        self.timer.reschedule(when if self.deadline is None else min(when, self.deadline))

    def pause(self) -> None:
        """Queued for a connection: only the overall deadline, if any, still runs."""
        self.timer.reschedule(self.deadline)


def _clock_of(context: SimpleNamespace) -> RequestClock | None:
    clock = getattr(context, "trace_request_ctx", None)
    return clock if isinstance(clock, RequestClock) else None


async def _on_queued(_session: Any, context: SimpleNamespace, _params: Any) -> None:
    clock = _clock_of(context)
    if clock is not None:
        clock.pause()


async def _on_dequeued(_session: Any, context: SimpleNamespace, _params: Any) -> None:
    clock = _clock_of(context)
    if clock is not None:
        clock.start()


async def _on_connected(_session: Any, context: SimpleNamespace, _params: Any) -> None:
    clock = _clock_of(context)
    if clock is not None:
        clock.connected = True


def trace_config() -> aiohttp.TraceConfig:
    """The tracing that drives each request's :class:`RequestClock`; give it to every session."""
    config = aiohttp.TraceConfig()
    config.on_connection_queued_start.append(_on_queued)
    config.on_connection_queued_end.append(_on_dequeued)
    config.on_connection_create_end.append(_on_connected)
    config.on_connection_reuseconn.append(_on_connected)
    return config


def disable_builtin_retry(session: aiohttp.ClientSession) -> None:
    """
    Keep aiohttp from re-sending a request when the server closed a connection under it.

    aiohttp (3.9+) resends an idempotent request once on its own in that case, controlled by
    the session attribute ``_retry_connection`` (aiohttp's own test client turns it off the
    same way). Older versions have no such retry, and no such attribute.

    :param session: A new session.
    """
    if "_retry_connection" in getattr(aiohttp.ClientSession, "ATTRS", ()):
        session._retry_connection = False


async def send(session: aiohttp.ClientSession, settings: OneInboxSettings, request: ApiRequest) -> Answer:
    """
    Send ``request`` once and read its answer, or raise the typed error.

    :param session: A session from :func:`~airflow_provider_oneinbox.hooks.session_pool.new_session`.
    :param settings: The connection's settings.
    :param request: The request.
    """
    budget = budget_for(settings, request)
    if budget <= 0:
        raise failures.timeout_failure(settings, request, 0.0, request_sent=False)
    loop = asyncio.get_running_loop()
    deadline = None if request.deadline is None else loop.time() + (request.deadline - time.monotonic())
    failure: OneInboxError
    timer = _compat.timeout(None)
    clock = RequestClock(timer, budget, deadline)
    try:
        async with timer:
            clock.start()
            return await _exchange(session, settings, request, clock)
    except OneInboxError as exc:
        failure = exc
    except _EXCHANGE_FAILURES as exc:
        failure = _classify(settings, request, clock, exc)
    except ValueError as exc:  # a header the client cannot encode (UnicodeEncodeError, ...)
        failure = failures.unsendable(settings, request, exc)
    # Raised outside the ``except`` so aiohttp's exception is not chained to it.
    raise failure


async def _exchange(
    session: aiohttp.ClientSession, settings: OneInboxSettings, request: ApiRequest, clock: RequestClock
) -> Answer:
    async with session.request(
        request.method,
        settings.url(request.path),
        params=request.params,
        json=request.json,
        headers={**request.headers, "Authorization": f"Bearer {settings.api_key}"},
        allow_redirects=False,
        proxy=settings.proxy,
        trace_request_ctx=clock,
    ) as response:
        status, headers = response.status, response.headers
        declared = response.content_length
        if declared is not None and declared > settings.max_response_bytes:
            raise failures.too_large(settings, request, status, declared)
        body = bytearray()
        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
            body += chunk
            if len(body) > settings.max_response_bytes:
                raise failures.too_large(settings, request, status, None)
    if not body and not is_framed(headers) and not no_body_expected(status):
        raise failures.cut_after_head(settings, request, status)
    return Answer(status, bytes(body), headers.get("Retry-After"))


def _classify(
    settings: OneInboxSettings, request: ApiRequest, clock: RequestClock, error: BaseException
) -> OneInboxError:
    reason = f"{type(error).__name__}: {error}"
    if clock.timer.expired():
        return failures.timeout_failure(settings, request, clock.budget, request_sent=clock.connected)
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return failures.timeout_failure(settings, request, clock.budget, request_sent=False)
    if isinstance(error, _compat.TIMEOUT_ERRORS):
        return failures.timeout_failure(settings, request, clock.budget, request_sent=clock.connected)
    if isinstance(error, _TLS) or (isinstance(error, aiohttp.ClientSSLError) and not clock.connected):
        return failures.tls_failure(settings, request, reason)
    if isinstance(error, aiohttp.InvalidURL):
        return transport_error(request, reason, request_sent=False, secret=settings.api_key, transient=False)
    if isinstance(error, aiohttp.ClientConnectorError) or not clock.connected:
        return failures.connect_failure(settings, request, reason)
    if isinstance(error, aiohttp.ClientPayloadError):
        return failures.dropped(settings, request, "the response was cut off", reason)
    return failures.dropped(settings, request, "the connection broke", reason)
