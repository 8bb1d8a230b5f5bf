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


def airflow_error(exc: OneInboxError, action: str) -> AirflowException:
    """
    Translate a OneInbox error into the Airflow exception that decides whether the task retries.

    Permanent errors (bad key, unknown id, rejected input, unusable connection) give an
    :class:`AirflowFailException`: a retry cannot help. Transient ones give an
    :class:`AirflowException`, which the task's ``retries`` apply to.

    :param exc: The error the hook raised.
    :param action: What was being done, e.g. ``"Placing the call"``.
    """
    if exc.transient:
        return AirflowException(f"{action} failed: {exc}")
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
