"""
The inbound deployment test's verdicts (``tests/helpers/deployment_inbound.check_counts``) on
made-up counts: each rule fails when broken, so the real run's passes mean something.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.helpers.deployment_checks import Findings
from tests.helpers.deployment_inbound import Counts, Stop, check_counts

T = 1_800_000_000.0  # epoch seconds; the stops at T+100 (SIGTERM) and T+200 (SIGKILL)
STOPS = [Stop("SIGTERM", T + 100, restarted=T + 103), Stop("SIGKILL", T + 200, restarted=T + 203)]


def _iso(epoch: float) -> str:
    from datetime import datetime

    from airflow_provider_oneinbox._compat import UTC

    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _counts(n: int = 12) -> Counts:
    """``n`` analysed calls ending every 20 s from T+10, each fired once (2 s after) and handled once."""
    calls: dict[str, dict[str, Any]] = {}
    for i in range(n):
        calls[f"c{i}"] = {
            "id": f"c{i}", "status": "completed", "ended_at": _iso(T + 10 + 20 * i),
            "analysis": {"outcome": "Interested", "summary": "s"}, "messages": [],
        }  # fmt: skip
    events = {c: [T + 12 + 20 * i] for i, c in enumerate(calls)}
    return Counts(calls=calls, events=events, handlings=Counter(list(calls)), runs=n)


def _failures(counts: Counts, durable: bool) -> list[str]:
    findings = Findings()
    check_counts(findings, counts, STOPS, durable)
    return findings.failures


def test_a_clean_run_passes_on_both() -> None:
    assert _failures(_counts(), durable=True) == []
    assert _failures(_counts(), durable=False) == []


def test_3_3_a_missed_call_fails_and_3_1_allows_it_only_in_a_downtime() -> None:
    counts = _counts()
    del counts.events["c5"]  # ended T+110: just after the SIGTERM
    del counts.handlings["c5"]
    assert any("fired" in f for f in _failures(counts, durable=True))
    assert _failures(counts, durable=False) == []
    del counts.events["c2"]  # ended T+50: nowhere near a stop
    del counts.handlings["c2"]
    assert any("downtime" in f for f in _failures(counts, durable=False))


def test_a_second_event_passes_only_just_before_a_stop_and_never_on_3_1() -> None:
    counts = _counts()
    counts.events["c9"] = [T + 198, T + 215]  # first stored 2 s before the SIGKILL
    assert _failures(counts, durable=True) == []
    assert any("twice" in f for f in _failures(counts, durable=False))
    counts.events["c3"] = [T + 72, T + 90]  # 28 s before the SIGTERM: a burst, not the commit window
    assert any("just before a stop" in f for f in _failures(counts, durable=True))
    counts.events["c3"] = [T + 72, T + 90, T + 99, T + 120]  # more events than stops explain
    assert any("plus one per stop" in f for f in _failures(counts, durable=True))


def test_two_stops_close_together_may_fire_a_call_three_times_but_only_across_both() -> None:
    counts = _counts()
    # Stored 1 s after the SIGTERM (the stopping triggerer still sent it), again 3 s before the
    # SIGKILL, and once more after it: each repeat follows a stop that its previous event preceded.
    counts.events["c4"] = [T + 101, T + 197, T + 210]
    assert _failures(counts, durable=True) == []
    # The same three events, but the second repeat before the SIGKILL's signal: no stop explains it.
    counts.events["c4"] = [T + 101, T + 197, T + 199]
    assert any("just before a stop" in f for f in _failures(counts, durable=True))


def test_handled_twice_or_not_at_all_fails() -> None:
    counts = _counts()
    counts.handlings["c1"] += 1
    assert any("handled at most once" in f for f in _failures(counts, durable=True))
    counts = _counts()
    del counts.handlings["c1"]
    assert any("was handled" in f for f in _failures(counts, durable=False))
