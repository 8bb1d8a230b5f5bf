"""
The inbound scenario's counts and checks: per call, the asset events the watcher produced (from
the metadata DB), the handlings the consumer DAG recorded (its SQLite table), and the simulator's
own record of the inbound calls; and the windows around each triggerer stop.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_provider_oneinbox.rules.results import post_call_data_ready
from benchmarks.simulator_process import parse_iso
from tests.helpers.deployment import Deployment
from tests.helpers.deployment_checks import DeploymentSimulator, Findings


@dataclass
class Stop:
    """One triggerer stop: how (``SIGTERM``/``SIGKILL``), when the signal went, when it ran again."""

    how: str
    signalled: float
    restarted: float = 0.0
    exit_seconds: float = 0.0


@dataclass
class Counts:
    """Per call id: asset events (their epoch timestamps), handlings; the simulator's calls."""

    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[float]] = field(default_factory=dict)
    handlings: Counter[str] = field(default_factory=Counter)
    runs: int = 0

    def analysed(self) -> list[str]:
        """The ids of the inbound calls whose post-call data is there, oldest first."""
        return [call_id for call_id, call in self.calls.items() if post_call_data_ready(call)]


def inbound_calls(simulator: DeploymentSimulator, number: str) -> dict[str, dict[str, Any]]:
    """The simulator's inbound calls to ``number``, by id, oldest first."""
    calls = [
        c for c in simulator.all_calls() if c.get("direction") == "inbound" and c.get("to_number") == number
    ]
    calls.sort(key=lambda c: parse_iso(c["created_at"]))
    return {call["id"]: call for call in calls}


def asset_events(deployment: Deployment, asset_name: str) -> dict[str, list[float]]:
    """Per call id, the epoch timestamps of the asset events of ``asset_name`` carrying it."""
    rows = deployment.sql(
        "SELECT e.extra, e.timestamp FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.name = :n "
        "ORDER BY e.timestamp",
        n=asset_name,
    )
    events: dict[str, list[float]] = {}
    for extra, stamp in rows:
        extra = json.loads(extra) if isinstance(extra, str) else (extra or {})
        call_id = (extra.get("payload") or {}).get("call_id")
        if call_id:
            when = stamp.timestamp() if isinstance(stamp, datetime) else parse_iso(str(stamp))
            events.setdefault(call_id, []).append(when)
    return events


def handlings(db_path: Path) -> Counter[str]:
    """How many times the consumer DAG handled each call id (its table's rows)."""
    if not db_path.exists():
        return Counter()
    with sqlite3.connect(db_path) as db:
        try:
            rows = db.execute("SELECT call_id FROM inbound_handlings").fetchall()
        except sqlite3.OperationalError:  # no table yet: nothing handled
            return Counter()
    return Counter(row[0] for row in rows)


def active_runs(deployment: Deployment, dag_id: str) -> int:
    """The DAG's runs not finished yet."""
    rows = deployment.sql(
        "SELECT count(*) FROM dag_run WHERE dag_id = :d AND state NOT IN ('success', 'failed')", d=dag_id
    )
    return int(rows[0][0])


def count(
    deployment: Deployment, simulator: DeploymentSimulator, number: str, asset: str, dag_id: str, db: Path
) -> Counts:
    """Everything counted now."""
    runs = deployment.sql("SELECT count(*) FROM dag_run WHERE dag_id = :d", d=dag_id)
    return Counts(
        calls=inbound_calls(simulator, number),
        events=asset_events(deployment, asset),
        handlings=handlings(db),
        runs=int(runs[0][0]),
    )


def near_a_stop(when: float, stops: list[Stop], before: float, after: float) -> Stop | None:
    """The stop whose signal came at most ``before`` s after ``when`` (or ``after`` s before it)."""
    for stop in stops:
        if stop.signalled - before <= when <= stop.signalled + after:
            return stop
    return None


def repeats_follow_stops(stamps: list[float], stops: list[Stop], before: float, after: float) -> bool:
    """
    Whether each event after a call's first is explained by a stop: the event before it was
    stored at most ``before`` s ahead of that stop's signal (or ``after`` s past it), and the
    repeat came after the signal.

    :param stamps: The call's asset-event times, oldest first.
    :param stops: The triggerer's stops.
    :param before: Seconds before a signal in which an event may be lost to the stop.
    :param after: Seconds after a signal in which the stopping triggerer may still store one.
    """
    for previous, repeat in itertools.pairwise(stamps):
        stop = near_a_stop(previous, stops, before=before, after=after)
        if stop is None or repeat < stop.signalled:
            return False
    return True


def in_downtime(when: float, stops: list[Stop], before: float, after: float) -> Stop | None:
    """The stop whose downtime (``before`` s ahead of its signal, ``after`` s past its restart) has it."""
    for stop in stops:
        if stop.signalled - before <= when <= stop.restarted + after:
            return stop
    return None


def _near(when: float, stops: list[Stop]) -> str:
    """``"<how> <+/-seconds>"``: the nearest stop, and ``when`` relative to its signal."""
    stop = min(stops, key=lambda s: abs(s.signalled - when))
    return f"{stop.how} {when - stop.signalled:+.1f}s"


def check_counts(findings: Findings, counts: Counts, stops: list[Stop], durable: bool) -> dict[str, Any]:
    """
    The scenario's assertions; the measured figures.

    :param findings: Where the results go.
    :param counts: The final counts.
    :param stops: The triggerer's stops.
    :param durable: Airflow 3.3+ (asset state store: a durable cursor, consumer dedup); else 3.1/3.2.
    """
    check = findings.check
    analysed = counts.analysed()
    fired = [c for c in analysed if counts.events.get(c)]
    missed = [c for c in analysed if not counts.events.get(c)]
    twice = {c: stamps for c, stamps in counts.events.items() if len(stamps) > 1}
    strangers = sorted(set(counts.events) - set(counts.calls))
    figures: dict[str, Any] = {
        "inbound_calls": len(counts.calls),
        "analysed": len(analysed),
        "asset_events": sum(len(s) for s in counts.events.values()),
        "calls_with_an_event": len(fired),
        "calls_with_two_events": len(twice),
        "missed": len(missed),
        "handlings": sum(counts.handlings.values()),
        "dag_runs": counts.runs,
    }
    # For each call fired twice, its first event; for each missed call, its end: the nearest stop
    # and the seconds from its signal.
    figures["fired_twice"] = [_near(stamps[0], stops) for stamps in twice.values()]
    figures["missed_ended"] = [_near(parse_iso(counts.calls[c]["ended_at"]), stops) for c in missed]
    check(
        len(analysed) >= 10, f"the stream brought {len(analysed)} analysed inbound calls (>= 10)", "too few"
    )
    check(not strangers, "every asset event is of a call to the watched number", f"{strangers}")
    most = max((len(s) for s in counts.events.values()), default=0)
    check(
        most <= 1 + len(stops),
        f"at most one asset event per call, plus one per stop (most: {most}, {len(stops)} stops)",
        f"{twice}",
    )
    if durable:
        check(
            not missed, f"3.3: every one of {len(analysed)} analysed inbound calls fired", f"missed {missed}"
        )
        # A call fires again only after a stop that came within seconds of its previous event
        # (the cursor commits an event commit_delay after yielding it): two stops close
        # together can fire one call three times, never without a stop in between.
        stray = {c: s for c, s in twice.items() if not repeats_follow_stops(s, stops, before=10, after=2)}
        check(
            not stray,
            f"3.3: each of the {len(twice)} calls fired again was fired just before a stop, once per stop",
            f"{stray}",
        )
    else:
        check(not twice, "3.1: no call fired twice (start_lookback=0)", f"{twice}")
        # Missed only: calls that ended while no triggerer ran the watcher (from a few seconds
        # before the signal: analysed 3 s after the end, polled every 2 s, and their events may
        # die in the triggerer's queue, until the restarted
        # triggerer polls again; after a SIGKILL that waits for the health check threshold).
        late = [
            c for c in missed
            if in_downtime(parse_iso(counts.calls[c]["ended_at"]), stops, before=10, after=30) is None
        ]  # fmt: skip
        check(not late, f"3.1: the {len(missed)} missed calls all ended during a downtime", f"{late}")
    handled_twice = {c: n for c, n in counts.handlings.items() if n > 1}
    check(
        not handled_twice,
        f"each call handled at most once ({len(counts.handlings)} handled)",
        f"{handled_twice}",
    )
    unhandled = [c for c in fired if not counts.handlings.get(c)]
    check(not unhandled, f"every call with an asset event was handled ({len(fired)})", f"{unhandled}")
    return figures
