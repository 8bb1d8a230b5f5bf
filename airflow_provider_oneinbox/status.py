"""Statuses of a OneInbox call (moved to :mod:`airflow_provider_oneinbox.rules.status`; this path stays)."""

from __future__ import annotations

from airflow_provider_oneinbox.rules.status import OneInboxCallStatus

__all__ = ["OneInboxCallStatus"]
