"""
The rules of one wait for a call (moved to :mod:`airflow_provider_oneinbox.rules`; this public path
stays): :class:`CallWatch` and its backoff, the typed events, the wait policy.
"""

from __future__ import annotations

from airflow_provider_oneinbox.rules.events import (
    CallSucceeded,
    CallTimedOut,
    CallWaitEvent,
    CallWaitFailed,
    MalformedEventError,
    event_from_payload,
)
from airflow_provider_oneinbox.rules.policy import DEFAULT_MAX_CONSECUTIVE_ERRORS, WaitPolicy
from airflow_provider_oneinbox.rules.watch import (
    MAX_ERROR_BACKOFF_SECONDS,
    MAX_STATUS_CHARS,
    CallWatch,
    ObservedError,
    error_backoff,
)

__all__ = [
    "DEFAULT_MAX_CONSECUTIVE_ERRORS",
    "MAX_ERROR_BACKOFF_SECONDS",
    "MAX_STATUS_CHARS",
    "CallSucceeded",
    "CallTimedOut",
    "CallWaitEvent",
    "CallWaitFailed",
    "CallWatch",
    "MalformedEventError",
    "ObservedError",
    "WaitPolicy",
    "error_backoff",
    "event_from_payload",
]
