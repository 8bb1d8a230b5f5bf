"""
The one retry policy of both hooks, built around one rule: never ring a phone twice.

Retried, at most ``max_retries`` times (``0``: never, the caller owns every retry), pausing
:func:`~airflow_provider_oneinbox.rules.backoff.backoff_delay` with jitter: ``retry_wait_min``
doubling per failure, at most ``retry_wait_max``, at least a 429's ``Retry-After`` (capped by
``retry_wait_max`` too):

* any request refused with 429 (the server did not act on it);
* any request whose connection could not be established (it never left this machine);
* a request that is safe to repeat (GET, PATCH, DELETE, stopping a call, testing a webhook)
  after a 5xx, a timeout or a dropped connection.

A failed connect (nothing listening) is retried like any, but its pauses are short (at most
:data:`CONNECT_RETRY_WAIT_MAX_LOOPBACK` seconds on a loopback host, where a simulator restarts in
about a second, :data:`CONNECT_RETRY_WAIT_MAX` elsewhere), so a server that is not running is
reported within seconds rather than after minutes of backoff. A request with a ``deadline``
(``ApiRequest.deadline``) is not retried when the pause would end past it.

Never retried: a refusal for the daily call quota (:class:`~airflow_provider_oneinbox.exceptions.
OneInboxQuotaExceededError`, a 429 with code ``DAILY_CALL_LIMIT_REACHED``): its ``Retry-After``
runs to the next 00:00 UTC, hours away, and every try before then is refused again. It is raised
at once, carrying ``resets_at``; the caller decides (a campaign pauses, a task fails saying when).

A request that is not safe to repeat (creating a call, a web call, a credential, a webhook,
registering or buying a number) is raised at once after a 5xx, a read timeout or a dropped
connection, because it may have taken effect.

The loop is written out (:func:`send_with_retries`, :func:`asend_with_retries`) rather than
built from tenacity: every part of the policy (which errors, how long, when to stop, the log
line) is this module's own, and the two loops are a few lines each around :func:`next_pause`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from airflow_provider_oneinbox.exceptions import (
    OneInboxConnectError,
    OneInboxError,
    OneInboxQuotaExceededError,
    OneInboxRateLimitError,
    OneInboxServerError,
    OneInboxTransportError,
)
from airflow_provider_oneinbox.rules.backoff import backoff_delay

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.api import ApiRequest
    from airflow_provider_oneinbox.hooks.settings import OneInboxSettings

T = TypeVar("T")

#: Longest pause before retrying a refused connect to a loopback host.
CONNECT_RETRY_WAIT_MAX_LOOPBACK = 1.0
#: Longest pause before retrying a refused connect to any other host.
CONNECT_RETRY_WAIT_MAX = 5.0


class WarningLogger(Protocol):
    """Anything with ``warning(msg, *args)``: a ``logging.Logger`` or a hook's ``self.log``."""

    def warning(self, msg: Any, /, *args: Any, **kwargs: Any) -> Any: ...


def is_retryable(request: ApiRequest, error: BaseException) -> bool:
    """
    Whether ``request`` may be sent again after failing with ``error``.

    :param request: The request that failed.
    :param error: What it failed with.
    """
    if not isinstance(error, OneInboxError) or not error.transient:
        return False  # a quota refusal among them: OneInboxQuotaExceededError is not transient
    if isinstance(error, OneInboxQuotaExceededError):
        return False  # even if a subclass marks itself transient: hours of Retry-After
    if isinstance(error, OneInboxRateLimitError):
        return True
    if isinstance(error, OneInboxTransportError) and not error.request_sent:
        return True
    return request.repeat_safe and isinstance(error, OneInboxServerError | OneInboxTransportError)


def retry_pause(settings: OneInboxSettings, error: BaseException, failures: int) -> float:
    """
    Seconds to pause after ``failures`` failed attempts in a row, the last with ``error``.

    :param settings: The connection's settings (``retry_wait_min``, ``retry_wait_max``).
    :param error: What the last attempt failed with; a 429's ``Retry-After`` is honoured.
    :param failures: Failed attempts so far, >= 1.
    """
    retry_after = error.retry_after if isinstance(error, OneInboxRateLimitError) else None
    pause = backoff_delay(
        failures,
        base=settings.retry_wait_min,
        cap=settings.retry_wait_max,
        retry_after=retry_after,
        jitter=True,
    )
    if isinstance(error, OneInboxConnectError):
        return min(pause, CONNECT_RETRY_WAIT_MAX_LOOPBACK if settings.on_loopback else CONNECT_RETRY_WAIT_MAX)
    return pause


#: How a retry's log line names the kinds of transport failure.
_TRANSPORT_KINDS = {"OneInboxTimeoutError": "timeout", "OneInboxConnectError": "could not connect"}


def _kind(error: BaseException) -> str:
    """``"OneInboxTransportError (timeout)"``: the family first, so log searches keep working."""
    name = type(error).__name__
    if isinstance(error, OneInboxTransportError) and name in _TRANSPORT_KINDS:
        return f"OneInboxTransportError ({_TRANSPORT_KINDS[name]})"
    return name


def next_pause(
    settings: OneInboxSettings, request: ApiRequest, error: BaseException, failures: int, log: WarningLogger
) -> float | None:
    """
    The pause before sending ``request`` again (logged at WARNING), or ``None`` to raise ``error``.

    :param settings: The connection's settings (retry budget and pauses).
    :param request: The request that failed.
    :param error: What it failed with.
    :param failures: Failed attempts so far, this one included.
    :param log: Where the retry is logged.
    """
    if failures > settings.max_retries or not is_retryable(request, error):
        return None
    pause = retry_pause(settings, error, failures)
    if request.deadline is not None and time.monotonic() + pause >= request.deadline:
        return None
    status = getattr(error, "status_code", None)
    log.warning(
        "OneInbox API %s failed with %s%s (attempt %d of %d); retrying in %.2f s",
        request.label,
        _kind(error),
        f" ({status})" if status else "",
        failures,
        settings.max_retries + 1,
        pause,
    )
    return pause


def send_with_retries(
    send: Callable[[], T], settings: OneInboxSettings, request: ApiRequest, log: WarningLogger
) -> T:
    """
    ``send()`` until it succeeds or the policy says stop; the last error is raised as it is.

    :param send: Sends ``request`` once.
    :param settings: The connection's settings.
    :param request: What ``send`` sends.
    :param log: Where each retry is logged.
    """
    failures = 0
    while True:
        try:
            return send()
        except OneInboxError as error:
            failures += 1
            pause = next_pause(settings, request, error, failures, log)
            if pause is None:
                raise
        time.sleep(pause)


async def asend_with_retries(
    send: Callable[[], Awaitable[T]], settings: OneInboxSettings, request: ApiRequest, log: WarningLogger
) -> T:
    """
    The async form of :func:`send_with_retries`, pausing with ``asyncio.sleep``.

    :param send: Sends ``request`` once.
    :param settings: The connection's settings.
    :param request: What ``send`` sends.
    :param log: Where each retry is logged.
    """
    failures = 0
    while True:
        try:
            return await send()
        except OneInboxError as error:
            failures += 1
            pause = next_pause(settings, request, error, failures, log)
            if pause is None:
                raise
        await asyncio.sleep(pause)
