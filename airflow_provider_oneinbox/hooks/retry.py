"""
The one retry policy of both hooks (tenacity), built around one rule: never ring a phone twice.

Retried, at most ``max_retries`` times, with full-jitter exponential backoff between
``retry_wait_min`` and ``retry_wait_max`` (a 429's ``Retry-After`` instead, capped by
``retry_wait_max``):

* any request refused with 429 (the server did not act on it);
* any request whose connection could not be established (it never left this machine);
* a request that is safe to repeat (GET, PATCH, DELETE, stopping a call, testing a webhook)
  after a 5xx, a timeout or a dropped connection.

A request that is not safe to repeat (creating a call, a web call, a credential, a webhook,
registering or buying a number) is raised at once after a 5xx, a read timeout or a dropped
connection, because it may have taken effect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from tenacity import (
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from airflow_provider_oneinbox.exceptions import (
    OneInboxError,
    OneInboxRateLimitError,
    OneInboxServerError,
    OneInboxTransportError,
)

if TYPE_CHECKING:
    from airflow_provider_oneinbox.hooks.api import ApiRequest
    from airflow_provider_oneinbox.hooks.settings import OneInboxSettings


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

    def __init__(self, cap: float, fallback: wait_base) -> None:
        self.cap = cap
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, OneInboxRateLimitError) and error.retry_after is not None:
            return min(error.retry_after, self.cap)
        return self.fallback(retry_state)


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
            type(error).__name__,
            f" ({status})" if status else "",
            retry_state.attempt_number,
            attempts,
            retry_state.next_action.sleep if retry_state.next_action else 0.0,
        )

    backoff = wait_random_exponential(
        multiplier=settings.retry_wait_min, min=settings.retry_wait_min, max=settings.retry_wait_max
    )
    return {
        "retry": retry_if_exception(lambda error: is_retryable(request, error)),
        "stop": stop_after_attempt(attempts),
        "wait": wait_retry_after(settings.retry_wait_max, backoff),
        "before_sleep": log_retry,
        "reraise": True,
    }
