"""
What a OneInbox call record means once it ends, and the result a task returns.

The rules live in :mod:`airflow_provider_oneinbox.rules.results`; this public path stays.
"""

from __future__ import annotations

from airflow_provider_oneinbox.rules.results import (
    analysis_of,
    build_call_result,
    has_post_call_content,
    normalize_messages,
    not_placed_result,
    post_call_data_ready,
    render_transcript,
)

__all__ = [
    "analysis_of",
    "build_call_result",
    "has_post_call_content",
    "normalize_messages",
    "not_placed_result",
    "post_call_data_ready",
    "render_transcript",
]
