"""Turn OneInbox errors into the Airflow exceptions that decide whether a task is retried."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_oneinbox.exceptions import OneInboxError


@contextmanager
def fail_without_retry_on_permanent_errors() -> Iterator[None]:
    """
    Re-raise permanent OneInbox errors as ``AirflowFailException`` so Airflow does not retry them.

    A wrong key, an unknown agent, a rejected body or a bad argument fails the same way on every
    try; transient errors (429, 5xx, transport) pass through unchanged and follow the task's retries.
    """
    try:
        yield
    except OneInboxError as error:
        if error.transient:
            raise
        raise AirflowFailException(str(error)) from error
