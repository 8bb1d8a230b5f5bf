"""
The Celery deployment test's shared-poller verdict (``poll_figures``) on made-up request logs:
it reads only the stretches where enough waits overlapped for the poller to share, and fails
when those waits still read their own call about once a second, or never overlapped.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_oneinbox.triggers.shared_poller import MIN_SHARED_CALLS
from tests.helpers.deployment_celery_checks import poll_figures
from tests.helpers.deployment_checks import Findings

ROUTE = "/v1/calls/{call_id}"


def _reads(call: str, times: list[float]) -> list[dict[str, Any]]:
    return [{"method": "GET", "route": ROUTE, "path": f"/v1/calls/{call}", "time": t} for t in times]


def _verdict(segments: list[tuple[str, float, float]], requests: list[dict[str, Any]]) -> list[str]:
    findings = Findings()
    poll_figures(findings, requests, segments)
    return findings.failures


def test_overlapping_waits_reading_only_at_their_ends_pass_beside_lone_waits_polling() -> None:
    shared = [(f"c{i}", 100.0, 130.0) for i in range(MIN_SHARED_CALLS)]
    requests = [r for call, _, end in shared for r in _reads(call, [100.5, end - 0.5])]
    # A wait that came back alone after a kill polls every second: it must not spoil the verdict.
    alone = ("lone", 200.0, 240.0)
    requests += _reads("lone", [200.0 + s for s in range(40)])
    assert _verdict([*shared, alone], requests) == []


def test_overlapping_waits_each_polling_every_second_fail() -> None:
    shared = [(f"c{i}", 100.0, 130.0) for i in range(MIN_SHARED_CALLS)]
    requests = [r for call, start, end in shared for r in _reads(call, [start + s for s in range(30)])]
    assert any("shared the queue triggerer's poller" in f for f in _verdict(shared, requests))


def test_waits_that_never_overlapped_enough_prove_nothing() -> None:
    lone = [(f"c{i}", 100.0 + 40 * i, 130.0 + 40 * i) for i in range(MIN_SHARED_CALLS)]
    requests = [r for call, _, end in lone for r in _reads(call, [end - 0.5])]
    assert any("shared the queue triggerer's poller" in f for f in _verdict(lone, requests))
