"""Notifiers: phone a human through a OneInbox agent (:class:`~.calls.OneInboxCallNotifier`)."""

from __future__ import annotations

from typing import Any

__all__ = ["OneInboxCallNotifier"]


def __getattr__(name: str) -> Any:
    if name == "OneInboxCallNotifier":
        from airflow_provider_oneinbox.notifications.calls import OneInboxCallNotifier

        return OneInboxCallNotifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
