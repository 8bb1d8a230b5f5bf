"""
The one retry policy of both hooks (tenacity), built around one rule: never ring a phone twice.

Retried, at most ``max_retries`` times, with full-jitter exponential backoff between
``retry_wait_min`` and ``retry_wait_max`` (a 429's ``Retry-After`` instead, capped by
``retry_wait_max``):

* any request refused with 429 (the server did not act on it);
* any request whose connection could not be established (it never left this machine);
* a request that is safe to repeat (GET, PATCH, DELETE, stopping a call, testing a webhook)
  after a 5xx, a timeout or a dropped connection.

A failed connect (nothing listening) is retried like any, but its waits are short (at most
:data:`CONNECT_RETRY_WAIT_MAX_LOOPBACK` seconds on a loopback host, where a simulator restarts in
about a second, :data:`CONNECT_RETRY_WAIT_MAX` elsewhere), so a server that is not running is
reported within seconds rather than after minutes of backoff. A request with a ``deadline``
(``ApiRequest.deadline``) is not retried when the wait would end past it.

A request that is not safe to repeat (creating a call, a web call, a credential, a webhook,
registering or buying a number) is raised at once after a 5xx, a read timeout or a dropped
connection, because it may have taken effect.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from tenacity import (
    RetryCallState,
    retry_if_exception,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from airflow_provider_oneinbox.exceptions import (
    OneInboxConnectError,
    OneInboxError,
    OneInboxRateLimitError,
    OneInboxServerError,
    OneInboxTransportError,
)

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.api import ApiRequest
    from airflow_provider_oneinbox.hooks.settings import OneInboxSettings


#: Longest wait before retrying a refused connect to a loopback host.
CONNECT_RETRY_WAIT_MAX_LOOPBACK = 1.0
#: Longest wait before retrying a refused connect to any other host.
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
        return False
    if isinstance(error, OneInboxRateLimitError):
        return True
    if isinstance(error, OneInboxTransportError) and not error.request_sent:
        return True
    return request.repeat_safe and isinstance(error, OneInboxServerError | OneInboxTransportError)


class wait_retry_after(wait_base):
    """
    Wait what a 429's ``Retry-After`` asked, at most ``cap`` seconds; else defer to ``fallback``.

    :param cap: Longest wait, in seconds.
    :param fallback: The strategy for every other failure.
    """

    def __init__(self, cap: float, fallback: wait_base, connect_cap: float | None = None) -> None:
        self.cap = cap
        self.fallback = fallback
        self.connect_cap = cap if connect_cap is None else connect_cap

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, OneInboxRateLimitError) and error.retry_after is not None:
            return min(error.retry_after, self.cap)
        if isinstance(error, OneInboxConnectError):
            return min(self.fallback(retry_state), self.connect_cap)
        return self.fallback(retry_state)


class stop_at_deadline:
    """
    Stop when the attempts are used up, or when the next wait would end past ``deadline``.

    :param attempts: Attempts in all.
    :param deadline: ``time.monotonic()`` bound, ``None`` for none.
    """

    def __init__(self, attempts: int, deadline: float | None) -> None:
        self.attempts = attempts
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        if retry_state.attempt_number >= self.attempts:
            return True
        if self.deadline is None:
            return False
        upcoming = getattr(retry_state, "upcoming_sleep", 0.0) or 0.0
        return time.monotonic() + upcoming >= self.deadline


#: How a retry's log line names the kinds of transport failure.
_TRANSPORT_KINDS = {"OneInboxTimeoutError": "timeout", "OneInboxConnectError": "could not connect"}


def _kind(error: BaseException | None) -> str:
    """``"OneInboxTransportError (timeout)"``: the family first, so log searches keep working."""
    name = type(error).__name__
    if isinstance(error, OneInboxTransportError) and name in _TRANSPORT_KINDS:
        return f"OneInboxTransportError ({_TRANSPORT_KINDS[name]})"
    return name


def retry_kwargs(settings: OneInboxSettings, request: ApiRequest, log: WarningLogger) -> dict[str, Any]:
    """
    Arguments for ``tenacity.Retrying`` or ``tenacity.AsyncRetrying`` sending ``request``.

    The last error is re-raised as it is (``reraise=True``), never wrapped in ``RetryError``.

    :param settings: The connection's settings (retry budget and waits).
    :param request: The request to send.
    :param log: Where each retry is logged at WARNING.
    """
    attempts = settings.max_retries + 1

    def log_retry(retry_state: RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        status = getattr(error, "status_code", None)
        log.warning(
            "OneInbox API %s failed with %s%s (attempt %d of %d); retrying in %.2f s",
            request.label,
            _kind(error),
            f" ({status})" if status else "",
            retry_state.attempt_number,
            attempts,
            retry_state.next_action.sleep if retry_state.next_action else 0.0,
        )

    backoff = wait_random_exponential(
        multiplier=settings.retry_wait_min, min=settings.retry_wait_min, max=settings.retry_wait_max
    )
    connect_cap = CONNECT_RETRY_WAIT_MAX_LOOPBACK if settings.on_loopback else CONNECT_RETRY_WAIT_MAX
    return {
        "retry": retry_if_exception(lambda error: is_retryable(request, error)),
        "stop": stop_at_deadline(attempts, request.deadline),
        "wait": wait_retry_after(settings.retry_wait_max, backoff, min(connect_cap, settings.retry_wait_max)),
        "before_sleep": log_retry,
        "reraise": True,
    }
