"""
Measurements of a deployment for ``benchmarks/campaign_deployment.py``: CPU seconds of every
Airflow process (from ``/proc``), metadata DB rows written (``pg_stat_user_tables``), and the
simulator's calls (lengths, requests per call).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.simulator_process import parse_iso

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float, float, float] | None:
    """``(ppid, own CPU s, waited-for children's CPU s, start time in ticks)`` of ``pid``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # fields[0] is field 3 (state): utime = 14, stime = 15, cutime = 16, cstime = 17, starttime = 22.
    own = (int(fields[11]) + int(fields[12])) / _TICKS
    children = (int(fields[13]) + int(fields[14])) / _TICKS
    return int(fields[1]), own, children, float(fields[19])


def process_tree(roots: dict[str, int]) -> dict[tuple[int, float], tuple[str, float]]:
    """
    Every live process under ``roots`` (``{component name: pid}``), including the roots:
    ``{(pid, start time): (component, own + waited-for children's CPU seconds)}``.

    A process that exited and was waited for is in its parent's children's CPU; so the sum
    over a tree counts every process that ever ran in it, except orphans adopted elsewhere.
    """
    stats: dict[int, tuple[int, float, float, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            stats[int(entry)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, *_rest) in stats.items():
        children.setdefault(ppid, []).append(pid)
    tree: dict[tuple[int, float], tuple[str, float]] = {}
    for name, root in roots.items():
        stack = [root]
        while stack:
            pid = stack.pop()
            if pid not in stats:
                continue
            _, own, waited, start = stats[pid]
            tree[(pid, start)] = (name, own + waited)
            stack.extend(children.get(pid, ()))
    return tree


def cpu_delta(
    before: dict[tuple[int, float], tuple[str, float]], after: dict[tuple[int, float], tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds used between two :func:`process_tree` snapshots, by component."""
    used: dict[str, float] = {}
    for key, (name, total) in after.items():
        used[name] = used.get(name, 0.0) + total - before.get(key, (name, 0.0))[1]
    return {name: round(seconds, 2) for name, seconds in used.items()}


def component_of(name: str) -> str:
    """``triggerer-2`` -> ``triggerer``."""
    return name.rsplit("-", 1)[0] if name[-1].isdigit() else name


def db_rows(sql: Any) -> dict[str, int]:
    """Rows inserted + updated + deleted so far, by table (``pg_stat_user_tables``)."""
    rows = sql("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables")
    return {str(name): int(count or 0) for name, count in rows}


def db_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Rows written between two :func:`db_rows` snapshots, by table (non-zero only)."""
    delta = {name: count - before.get(name, 0) for name, count in after.items()}
    return {name: count for name, count in sorted(delta.items(), key=lambda x: -x[1]) if count}


def wait_for_db_stats() -> None:
    """PostgreSQL flushes an idle backend's table counters within 10 s: let them land."""
    time.sleep(11)


@dataclass
class CallStats:
    """What the simulator saw of one campaign's calls."""

    calls: int
    mean_call_seconds: float
    requests: int
    requests_by_route: dict[str, int] = field(default_factory=dict)

    @property
    def requests_per_call(self) -> float:
        """Requests to OneInbox per call placed."""
        return self.requests / self.calls if self.calls else 0.0


def call_stats(calls: list[dict[str, Any]], stats: dict[str, Any], speed: float) -> CallStats:
    """
    :param calls: The simulator's calls (all pages of the list).
    :param stats: ``GET /_sim/stats`` after the run (reset before it).
    :param speed: The simulated clock's speed: a call's real length is its simulated one / speed.
    """
    lengths = [
        (parse_iso(c["ended_at"]) - parse_iso(c["created_at"])) / speed for c in calls if c.get("ended_at")
    ]
    return CallStats(
        calls=len(calls),
        mean_call_seconds=sum(lengths) / len(lengths) if lengths else 0.0,
        requests=int(stats["requests_total"]),
        requests_by_route=dict(stats["requests_by_route"]),
    )
