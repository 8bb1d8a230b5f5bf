"""Helpers of the export tests: run an export, read its lines, list what the simulator holds."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_provider_oneinbox._compat import UTC, datetime_fromisoformat
from tests.conftest import TEST_API_KEY

LOG = logging.getLogger("tests.export")


def run_export(path: Any, start: Any, end: Any, **options: Any) -> dict[str, Any]:
    """
    Export ``[start, end)`` to ``path`` through ``oneinbox_default``, as the operator does.

    :param path: A URL or an ``ObjectStoragePath``.
    :param start: The interval's start (datetime or ISO string).
    :param end: Its end.
    :param options: More :func:`~airflow_provider_oneinbox.export.spec.build_spec` arguments.
    """
    from airflow_provider_oneinbox.export.destination import Destination
    from airflow_provider_oneinbox.export.run import export_calls
    from airflow_provider_oneinbox.export.spec import build_spec
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

    options.setdefault("analysis_grace", 0)
    spec = build_spec(start=start, end=end, **options)
    return export_calls(OneInboxHook(), spec, Destination.of(path), LOG)


def lines_of(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a local export file."""
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def instant(value: str) -> datetime:
    """An API timestamp as an aware UTC datetime."""
    return datetime_fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def every_call() -> list[dict[str, Any]]:
    """Every call the simulator holds, through the API (an unbounded walk for tests)."""
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

    return list(OneInboxHook().iter_calls(max_pages=10_000))


def ended_within(calls: list[dict[str, Any]], start: datetime, end: datetime) -> set[str]:
    """Ids of the calls whose ``ended_at`` lies in ``[start, end)``."""
    return {c["id"] for c in calls if c["ended_at"] and start <= instant(c["ended_at"]) < end}


def leftovers(directory: Path) -> list[str]:
    """Staging files left in a directory tree (there must be none)."""
    return sorted(str(p) for p in directory.rglob("*") if p.name.endswith(".part"))


def assert_no_secret(text: str, *secrets: str) -> None:
    """Neither the test API key nor any of ``secrets`` (signed links, signatures) is in ``text``."""
    for secret in (TEST_API_KEY, *secrets):
        assert secret not in text, f"{secret[:12]}... leaked"
