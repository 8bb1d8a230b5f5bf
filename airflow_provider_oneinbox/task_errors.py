"""
How OneInbox errors become task failures: permanent ones fail at once, transient ones follow ``retries``.

The Airflow exceptions are imported here once for the whole package.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# The compat shim hands out the Task SDK's exceptions on 3.2+ and airflow.exceptions' on 3.1.
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from airflow_provider_oneinbox.exceptions import (
    OneInboxAuthError,
    OneInboxConfigError,
    OneInboxError,
    OneInboxInputError,
    OneInboxNotFoundError,
    OneInboxQuotaExceededError,
)

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "airflow_error",
    "fail_on_oneinbox_errors",
]

_HINTS: dict[type[OneInboxError], str] = {
    OneInboxAuthError: "check the API key (password) of the OneInbox connection",
    OneInboxNotFoundError: "check the id: it does not exist in this OneInbox workspace",
    OneInboxInputError: "fix the argument named above",
    OneInboxConfigError: "fix the OneInbox connection",
}


def _quota_hint(exc: OneInboxQuotaExceededError) -> str:
    return (
        f"the workspace's daily call quota is used up until {exc.resets_at:%Y-%m-%d %H:%M} UTC: a retry "
        "before then would be refused again, so the task is not retried; clear it after the reset, or "
        "ask OneInbox for a higher quota"
    )


def airflow_error(exc: OneInboxError, action: str) -> AirflowException:
    """
    Translate a OneInbox error into the Airflow exception that decides whether the task retries.

    Permanent errors (bad key, unknown id, rejected input, unusable connection, the daily call
    quota used up until a reset hours away) give an :class:`AirflowFailException`: a retry cannot
    help (the quota's message says when it resets). Transient ones give an
    :class:`AirflowException`, which the task's ``retries`` apply to.

    :param exc: The error the hook raised.
    :param action: What was being done, e.g. ``"Placing the call"``.
    """
    if exc.transient:
        return AirflowException(f"{action} failed: {exc}")
    if isinstance(exc, OneInboxQuotaExceededError):
        return AirflowFailException(f"{action} failed: {exc} ({_quota_hint(exc)})")
    hint = next((text for cls, text in _HINTS.items() if isinstance(exc, cls)), "the API refused the request")
    return AirflowFailException(f"{action} failed: {exc} ({hint}; not retried)")


@contextmanager
def fail_on_oneinbox_errors(action: str) -> Iterator[None]:
    """
    Raise any OneInbox error inside the block as :func:`airflow_error` gives it.

    :param action: What the block does, e.g. ``"Registering +14155550123"``; starts the message.
    """
    try:
        yield
    except OneInboxError as exc:
        raise airflow_error(exc, action) from None
