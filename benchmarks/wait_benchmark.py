"""
Waiting for N OneInbox calls in one triggerer process: ``OneInboxCallTrigger`` against the trigger a user
would build from ``apache-airflow-providers-http`` (``HttpEventTrigger`` + an async ``response_check``).

For each N and each side, on the same simulator (HTTPS, in its own process):

1. the simulator is reset and its clock all but stopped; N calls are created in batches, the simulated
   clock moved on after each so their starts (and ends) spread over one ramp, as a campaign places its
   calls over time (default scenario: rings 2 s, talks 20 s, analysis 3 s after the end: 25 s a call);
2. a fresh worker process (:mod:`benchmarks.wait_worker`) imports what a triggerer has loaded and says
   READY; the clock is set going and the worker starts one trigger per call, in a shuffled order (so
   poll phases are random), spread over the same ramp, all on one asyncio loop, as the triggerer runs them;
3. the worker's CPU and memory, the simulator's request and connection counters, and each call's
   detection latency (its analysis became available, in real time → its event fired) are collected;
4. for our sides, the read each resumed task makes: our trigger's event carries no record, so the task
   reads ``GET /v1/calls/{id}`` once when it resumes. The benchmark makes those reads (one per finished
   wait, with the sync hook, as the worker does) once the waits are over, and counts them in the
   request figures; not in CPU, memory or connections, which are the triggerer's.

Sides: ``ours`` (``OneInboxCallTrigger`` as the operators defer it: shared polling on), ``ours_per_call``
(the same trigger with ``shared_polling=False``: one GET per call per interval) and ``http``
(``HttpEventTrigger``, the alternative).

``python -m benchmarks.wait_benchmark`` runs N = 100, 1000, 5000; ``--quick`` is a smoke check.
Writes ``benchmarks/results/wait_benchmark.json`` and ``.png``, and ``benchmarks/wait_benchmark.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import select
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airflow_provider_oneinbox.simulator.scenarios import scenario_for
from benchmarks.simulator_process import LIST_ROUTE, POLL_ROUTE, SimulatorProcess, parse_iso

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README_PLOT = ROOT / "benchmarks" / "wait_benchmark.png"
SIDES = ("ours", "ours_per_call", "http")
ALTERNATIVE = "http"
LABELS = {
    "ours": "OneInboxCallTrigger",
    "ours_per_call": "OneInboxCallTrigger, shared_polling=False",
    "http": "HttpEventTrigger",
}
COLORS = {"ours": "#1f77b4", "ours_per_call": "#7fb3e0", "http": "#d62728"}
CONN_IDS = {"ours": "oneinbox_bench", "ours_per_call": "oneinbox_bench", "http": "http_bench"}
AGENT_ID = "agt_sales"
#: Simulated seconds per real second while calls are being created: the clock all but stops.
FROZEN_SPEED = 1e-6
#: Default scenario (its last two digits select no special one): rings 2 s, talks 20 s, "Interested".
TO_NUMBER = "+14155550120"
FROM_NUMBER = "+14155550100"
#: Calls are created in this many batches, the simulated clock moved on by 1/batches of the ramp after each.
CREATE_BATCHES = 50
#: Real seconds a worker gets to import and say READY.
READY_TIMEOUT = 180.0


@dataclass(frozen=True)
class Settings:
    """One benchmark run's knobs (every N shares them)."""

    sizes: tuple[int, ...]
    sides: tuple[str, ...]
    poll_interval: float
    ramp: float
    speed: float
    analysis_delay: float
    greenback: bool = True
    profile: bool = False

    @property
    def call_seconds(self) -> float:
        """Real seconds from a call's start to its analysis (what each wait lasts at most)."""
        return (scenario_for(TO_NUMBER).total_seconds + self.analysis_delay) / self.speed

    @property
    def wait_timeout(self) -> float:
        """Seconds after which a worker cancels the waits still running (healthy runs never get there)."""
        return self.ramp + self.call_seconds + 6 * self.poll_interval + 60


# -- one measurement ------------------------------------------------------------------------------
def worker_env(sim: SimulatorProcess, side: str) -> dict[str, str]:
    """Environment of a worker: the Airflow connection of its side and a throwaway Airflow home."""
    env = dict(os.environ)
    home = RESULTS / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    env["AIRFLOW_HOME"] = str(home)
    env.pop("SSL_CERT_FILE", None)
    if side == ALTERNATIVE:
        # Headers go in the extra. HttpAsyncHook hands extra "verify" to aiohttp as verify_ssl, which only
        # understands booleans: the CA path is silently ignored. aiohttp's default SSL context, built when
        # aiohttp is imported, trusts the simulator's CA only through SSL_CERT_FILE.
        extra: dict[str, Any] = {
            "Authorization": f"Bearer {sim.api_key}",
            "Accept": "application/json",
            "verify": sim.ca_cert_path,
        }
        connection: dict[str, Any] = {"conn_type": "http", "host": sim.base_url, "extra": extra}
        env["SSL_CERT_FILE"] = sim.ca_cert_path
    else:
        extra = {"verify": sim.ca_cert_path, "timeout": 30, "max_retries": 3}
        connection = {"conn_type": "oneinbox", "host": sim.base_url, "password": sim.api_key, "extra": extra}
    env[f"AIRFLOW_CONN_{CONN_IDS[side].upper()}"] = json.dumps(connection)
    return env


def run_worker(sim: SimulatorProcess, side: str, n: int, settings: Settings) -> dict[str, Any]:
    """Create N calls, run one worker over them; the raw measurements of the worker and the simulator."""
    sim.reset()
    sim.configure(speed=FROZEN_SPEED, analysis_delay=settings.analysis_delay)
    created = time.monotonic()
    # A campaign places its calls over time: spread their starts (so their ends) over the ramp.
    batches = min(n, CREATE_BATCHES)
    records: list[dict[str, Any]] = []
    for batch in range(batches):
        size = n * (batch + 1) // batches - n * batch // batches
        records += sim.create_calls(size, TO_NUMBER, FROM_NUMBER, agent_id=AGENT_ID)
        sim.advance(settings.ramp * settings.speed / batches)  # simulated seconds
    create_seconds = time.monotonic() - created
    calls_file = RESULTS / f"calls-{side}-{n}.json"
    result_file = RESULTS / f"worker-{side}-{n}.json"
    # Triggers start in an order unrelated to their calls' starts, so poll phases are random.
    call_ids = [r["id"] for r in records]
    random.Random(n).shuffle(call_ids)
    calls_file.write_text(json.dumps(call_ids))
    result_file.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "benchmarks.wait_worker",
        f"--side={side}",
        f"--calls={calls_file}",
        f"--result={result_file}",
        f"--conn-id={CONN_IDS[side]}",
        f"--agent-id={AGENT_ID}",
        f"--poll-interval={settings.poll_interval}",
        f"--ramp={settings.ramp}",
        f"--timeout={settings.wait_timeout}",
    ]
    if not settings.greenback:
        command.append("--no-greenback")
    if settings.profile:
        command.append(f"--profile={RESULTS / f'profile-{side}-{n}.pstats'}")
    log_path = RESULTS / f"worker-{side}-{n}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=worker_env(sim, side),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            assert proc.stdin is not None
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT)
            if not ready or proc.stdout.readline().strip() != "READY":
                raise RuntimeError(f"worker {side} N={n} did not get ready; see {log_path}")
            stats0 = sim.stats()
            admin0 = sim.admin_connections
            sim_cpu0 = sim.cpu_seconds()
            sim.configure(speed=settings.speed)  # every call starts ringing now
            real, simulated = sim.sim_to_real()
            proc.stdin.write("GO\n")
            proc.stdin.flush()
            code = proc.wait(timeout=settings.wait_timeout + 120)
            sim_cpu1 = sim.cpu_seconds()
            stats1 = sim.stats()
            admin = sim.admin_connections - admin0  # admin requests after stats0, stats1 included
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    if code != 0:
        raise RuntimeError(f"worker {side} N={n} exited with {code}; see {log_path}")
    worker = json.loads(result_file.read_text())
    reads = resume_reads(sim, side, worker) if side != ALTERNATIVE else {"reads": 0, "seconds": 0.0}
    polls_log = sim.requests(path_prefix="/v1/calls/")
    analysis_after = scenario_for(TO_NUMBER).total_seconds + settings.analysis_delay  # simulated seconds
    ready_at = {
        r["id"]: real + (parse_iso(r["created_at"]) + analysis_after - simulated) / settings.speed
        for r in records
    }
    return {
        "worker": worker,
        "stats0": stats0,
        "stats1": stats1,
        "admin_connections": admin,
        "simulator_cpu_seconds": sim_cpu1 - sim_cpu0,
        "ready": ready_at,
        "polls_log": polls_log,
        "create_seconds": create_seconds,
        "resume_reads": reads,
    }


def resume_reads(sim: SimulatorProcess, side: str, worker: dict[str, Any]) -> dict[str, Any]:
    """
    What each resumed task does after our trigger's event: one ``GET /v1/calls/{id}`` per finished
    wait, through the sync hook; a wait whose record then lacks the analysis is not counted ``ok``.
    """
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
    from airflow_provider_oneinbox.results import analysis_of

    conn_var = f"AIRFLOW_CONN_{CONN_IDS[side].upper()}"
    os.environ[conn_var] = worker_env(sim, side)[conn_var]
    reads, started = 0, time.monotonic()
    with OneInboxHook(oneinbox_conn_id=CONN_IDS[side]) as hook:
        for call in worker["calls"]:
            events = call["events"]
            if len(events) == 1 and events[0]["status"] == "success":
                record = hook.get_call(call["call_id"])
                reads += 1
                events[0]["ok"] = events[0]["ok"] and analysis_of(record) is not None
    return {"reads": reads, "seconds": time.monotonic() - started}


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100), interpolated between closest ranks; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(side: str, n: int, raw: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Turn one measurement into the figures of the table."""
    worker, stats0, stats1 = raw["worker"], raw["stats0"], raw["stats1"]
    routes0, routes1 = stats0["requests_by_route"], stats1["requests_by_route"]
    gets = routes1.get(POLL_ROUTE, 0) - routes0.get(POLL_ROUTE, 0)
    pages = routes1.get(LIST_ROUTE, 0) - routes0.get(LIST_ROUTE, 0)
    polls = gets + pages
    reads = raw["resume_reads"]["reads"]
    # The triggerer's requests (stats1 was read before the resumed tasks' reads), plus those reads.
    trigger_requests = stats1["requests_total"] - stats0["requests_total"]
    requests = trigger_requests + reads
    connections = stats1["connections_opened"] - stats0["connections_opened"] - raw["admin_connections"]
    per_path: dict[str, int] = {}
    bad_status = 0
    for entry in raw["polls_log"]:
        per_path[entry["path"]] = per_path.get(entry["path"], 0) + 1
        if entry["status"] != 200:
            bad_status += 1
    latencies: list[float] = []
    # Seconds from each wait's start to its call's analysis: the same for every side, however
    # fast each one notices (so a side that falls behind gets no larger denominator).
    owed = sum(max(0.0, raw["ready"][c["call_id"]] - c["start"]) for c in worker["calls"])
    over_budget = 0
    failed_waits: list[str] = []
    request_counts: list[int] = []
    for call in worker["calls"]:
        call_id = call["call_id"]
        count = per_path.get(f"/v1/calls/{call_id}", 0)  # the resumed task's read included
        request_counts.append(count + math.ceil(pages / n))  # its own GETs and its share of the list
        events = call["events"]
        if call["error"] or len(events) != 1 or not events[0]["ok"]:
            failed_waits.append(call["error"] or json.dumps(events)[:300])
            continue
        ready = raw["ready"][call_id]
        latencies.append(events[0]["t"] - ready)
        if request_counts[-1] > math.ceil((ready - call["start"]) / settings.poll_interval) + 2:
            over_budget += 1
    rss_peak = worker["rss_peak_sampled"]
    if worker["max_rss_after"] > worker["max_rss_before"]:  # a peak between two samples
        rss_peak = max(rss_peak, worker["max_rss_after"])
    rss_growth = rss_peak - worker["rss_baseline"]
    cpu = worker["cpu_seconds"]
    return {
        "side": side,
        "n": n,
        "polls": polls,
        "call_gets": gets,
        "list_pages": pages,
        "requests": requests,
        "connections": connections,
        "cpu_seconds": cpu,
        "cpu_user": worker["cpu_user"],
        "cpu_system": worker["cpu_system"],
        "cpu_per_1000_polls": cpu / polls * 1000 if polls else math.nan,
        "cpu_ms_per_call": cpu / n * 1000,
        # Per poll a per-call poller owes (one per call per interval), whatever each side sends.
        "cpu_per_1000_intervals": cpu / (owed / settings.poll_interval) * 1000 if owed else math.nan,
        "simulator_cpu_per_1000_polls": raw["simulator_cpu_seconds"] / polls * 1000 if polls else math.nan,
        "rss_baseline_mb": worker["rss_baseline"] / 2**20,
        "rss_peak_mb": rss_peak / 2**20,
        "rss_growth_mb": rss_growth / 2**20,
        "rss_kb_per_call": rss_growth / n / 1024,
        "requests_per_call": requests / n,
        "trigger_requests_per_call": trigger_requests / n,
        "resume_reads": reads,
        "resume_read_ms": raw["resume_reads"]["seconds"] / reads * 1000 if reads else math.nan,
        "requests_per_call_max": max(request_counts, default=0),
        "requests_over_budget": over_budget,
        "connections_per_call": connections / n,
        "connections_per_poll": connections / polls if polls else math.nan,
        "latency_p50": percentile(latencies, 50),
        "latency_p99": percentile(latencies, 99),
        "latency_max": max(latencies, default=math.nan),
        "latency_min": min(latencies, default=math.nan),
        "errors": len(failed_waits) + bad_status,
        "failed_waits": len(failed_waits),
        "non_200_responses": bad_status,
        "error_samples": failed_waits[:5],
        "wall_seconds": worker["wall_seconds"],
        "create_seconds": raw["create_seconds"],
        "rss_series": worker["rss_series"],
    }


# -- targets --------------------------------------------------------------------------------------
def evaluate_targets(rows: list[dict[str, Any]], settings: Settings, side: str) -> list[dict[str, Any]]:
    """The issue's targets for one side, each met or not (``None``: not measured in this run)."""
    by = {(r["side"], r["n"]): r for r in rows}
    p = settings.poll_interval
    budget = math.ceil(settings.call_seconds / p) + 2
    targets: list[dict[str, Any]] = []

    def add(name: str, met: bool | None, detail: str) -> None:
        targets.append({"side": side, "target": name, "met": met, "detail": detail})

    mine, alt = by.get((side, 1000)), by.get((ALTERNATIVE, 1000))
    if mine and alt:
        # The same N waits for the same calls at the same interval: compare the CPU they cost.
        ratio = mine["cpu_ms_per_call"] / alt["cpu_ms_per_call"]
        add("N=1000: CPU ≤ 1/3 of the alternative's", ratio <= 1 / 3, f"ratio {ratio:.2f}")
    else:
        add("N=1000: CPU ≤ 1/3 of the alternative's", None, "N=1000 not run for both")
    if mine:
        other = f" (alternative: {alt['connections_per_poll']:.2f} per poll)" if alt else ""
        add(
            "N=1000: ≤ 1 connection per trigger",
            mine["connections_per_call"] <= 1,
            f"{mine['connections_per_call']:.3f} per trigger{other}",
        )
        add(
            "N=1000: ≤ 20 KB RSS per waiting call",
            mine["rss_kb_per_call"] <= 20,
            f"{mine['rss_kb_per_call']:.1f} KB",
        )
    else:
        for name in ("N=1000: ≤ 1 connection per trigger", "N=1000: ≤ 20 KB RSS per waiting call"):
            add(name, None, "N=1000 not run")
    mine_rows = [r for r in rows if r["side"] == side]
    worst_p99 = max((r["latency_p99"] for r in mine_rows), default=math.nan)
    add(
        f"p99 detection latency ≤ poll interval + 1 s = {p + 1:g} s, every N",
        worst_p99 <= p + 1,
        f"worst {worst_p99:.2f} s",
    )
    errors = sum(r["errors"] for r in mine_rows)
    add("zero errors, every N", errors == 0, f"{errors}")
    big = by.get((side, 5000))
    if mine and big:
        worse, better, parts = [], [], []
        for key in ("cpu_ms_per_call", "rss_kb_per_call", "requests_per_call", "connections_per_call"):
            change = big[key] / mine[key] - 1 if mine[key] else 0.0
            parts.append(f"{key} {change:+.0%}")
            if change > 0.2:
                worse.append(key)
            elif change < -0.2:
                better.append(key)
        if better:
            parts.append(f"lower (fixed costs spread over more calls): {', '.join(better)}")
        add("N=5000 per-call figures no more than 20 % above N=1000", not worse, ", ".join(parts))
    else:
        add("N=5000 per-call figures no more than 20 % above N=1000", None, "N=1000 and N=5000 not both run")
    if side == "ours":
        per_interval = settings.call_seconds / p
        shared = [r for r in mine_rows if r["n"] >= 1000]
        alone = {r["n"]: r for r in rows if r["side"] == "ours_per_call"}
        parts = [
            f"N={r['n']}: {r['requests_per_call']:.2f} requests/call"
            + (
                f" (shared_polling=False: {alone[r['n']]['requests_per_call']:.2f})"
                if r["n"] in alone
                else ""
            )
            for r in shared
        ]
        add(
            f"shared polling: < 1 request per call per interval ({per_interval:g} per call), N ≥ 1000",
            bool(shared) and all(r["requests_per_call"] < per_interval for r in shared),
            "; ".join(parts) or "N ≥ 1000 not run",
        )
    worst_max = max((r["requests_per_call_max"] for r in mine_rows), default=0)
    over = sum(r["requests_over_budget"] for r in mine_rows)
    add(
        f"requests per call ≤ ceil({settings.call_seconds:g} s / {p:g} s) + 2 = {budget}",
        worst_max <= budget and over == 0,
        f"max {worst_max}; {over} calls over their own ceil(wait / poll) + 2",
    )
    return targets


# -- output ---------------------------------------------------------------------------------------
COLUMNS = (
    ("CPU ms / call", "cpu_ms_per_call", "{:.2f}"),
    ("CPU s / 1000 poll intervals", "cpu_per_1000_intervals", "{:.3f}"),
    ("CPU s / 1000 requests", "cpu_per_1000_polls", "{:.3f}"),
    ("RSS KB / call", "rss_kb_per_call", "{:.1f}"),
    ("requests / call", "requests_per_call", "{:.2f}"),
    ("of which triggerer", "trigger_requests_per_call", "{:.2f}"),
    ("worker reads", "resume_reads", "{:d}"),
    ("max", "requests_per_call_max", "{:d}"),
    ("connections / call", "connections_per_call", "{:.3f}"),
    ("p50 s", "latency_p50", "{:.2f}"),
    ("p99 s", "latency_p99", "{:.2f}"),
    ("errors", "errors", "{:d}"),
    ("GETs", "call_gets", "{:d}"),
    ("list pages", "list_pages", "{:d}"),
    ("CPU s", "cpu_seconds", "{:.2f}"),
    ("peak RSS MB", "rss_peak_mb", "{:.0f}"),
    ("simulator CPU s / 1000 requests", "simulator_cpu_per_1000_polls", "{:.3f}"),
)
RATIO_KEYS = (
    "cpu_ms_per_call",
    "cpu_per_1000_intervals",
    "rss_kb_per_call",
    "requests_per_call",
    "connections_per_call",
    "latency_p99",
)


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def table_markdown(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table, with ratio rows (side / alternative) per N."""
    header = ["N", "trigger", *[c[0] for c in COLUMNS]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    by = {(r["side"], r["n"]): r for r in rows}
    for n in sorted({r["n"] for r in rows}):
        for side in SIDES:
            row = by.get((side, n))
            if row is not None:
                cells = [str(n), LABELS[side]]
                cells += ["n/a" if _nan(row[key]) else fmt.format(row[key]) for _, key, fmt in COLUMNS]
                lines.append("| " + " | ".join(cells) + " |")
        alt = by.get((ALTERNATIVE, n))
        for side in SIDES:
            row = by.get((side, n))
            if side == ALTERNATIVE or row is None or alt is None:
                continue
            cells = [str(n), f"*{side} / alternative*"]
            for _, key, _fmt in COLUMNS:
                ok = key in RATIO_KEYS and alt[key] and not _nan(alt[key]) and not _nan(row[key])
                cells.append(f"*{row[key] / alt[key]:.2f}x*" if ok else "")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import airflow

    model = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "airflow": airflow.__version__,
        "apache-airflow-providers-http": _version("apache-airflow-providers-http"),
        "aiohttp": _version("aiohttp"),
        "kernel": platform.release(),
    }


def plot(rows: list[dict[str, Any]], settings: Settings, paths: list[Path]) -> None:
    """Five bar panels (one group per N) and the RSS of the largest N over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r["n"] for r in rows})
    sides = [s for s in SIDES if any(r["side"] == s for r in rows)]
    by = {(r["side"], r["n"]): r for r in rows}
    panels = (
        ("cpu_ms_per_call", "CPU ms per waiting call", False),
        ("rss_kb_per_call", "peak RSS growth per waiting call, KB (log)", True),
        ("connections_per_call", "TCP/TLS connections opened per call", False),
        ("requests_per_call", "HTTP requests per call", False),
        ("latency_p99", "detection latency p99, s", False),
    )
    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    width = 0.8 / len(sides)
    for ax, (key, title, log) in zip(axes.flat, panels, strict=False):
        for k, side in enumerate(sides):
            offset = (k - (len(sides) - 1) / 2) * width
            points = [(i + offset, by[(side, n)][key]) for i, n in enumerate(sizes) if (side, n) in by]
            bars = ax.bar(
                [x for x, _ in points], [y for _, y in points], width, label=LABELS[side], color=COLORS[side]
            )
            ax.bar_label(bars, fmt="%.3g", fontsize=7)
        ax.set_xticks(range(len(sizes)), [f"N={n}" for n in sizes])
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
            ax.axhline(20, color="gray", linestyle="--", linewidth=1)
        if key == "latency_p99":
            ax.axhline(settings.poll_interval + 1, color="gray", linestyle="--", linewidth=1)
    axes.flat[0].legend(fontsize=8)
    ax = axes.flat[5]
    largest = sizes[-1]
    for side in sides:
        row = by.get((side, largest))
        if row:
            ax.plot(
                [s[0] for s in row["rss_series"]],
                [s[1] / 2**20 - row["rss_baseline_mb"] for s in row["rss_series"]],
                label=LABELS[side],
                color=COLORS[side],
            )
    ax.set_title(f"RSS growth over time at N={largest}, MB")
    ax.set_xlabel("seconds since the first trigger started")
    fig.suptitle(
        f"Waiting for N OneInbox calls in one process: HTTPS, a poll every {settings.poll_interval:g} s, "
        f"calls of {settings.call_seconds:g} s (dashed: targets)"
    )
    fig.tight_layout()
    for path in paths:
        fig.savefig(path, dpi=100)
    plt.close(fig)


# -- main -----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.wait_benchmark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--n", default="100,1000,5000", help="comma-separated numbers of concurrent waits")
    parser.add_argument(
        "--quick", action="store_true", help="smoke check: N=20,100, poll 1 s, 10 s calls (--n still wins)"
    )
    parser.add_argument("--sides", default=",".join(SIDES), help=f"any of {', '.join(SIDES)}")
    parser.add_argument("--poll-interval", type=float, default=None, help="seconds (default 5, quick 1)")
    parser.add_argument(
        "--ramp", type=float, default=None, help="seconds over which triggers start (default: poll)"
    )
    parser.add_argument(
        "--speed", type=float, default=None, help="simulated seconds per real second (default 1, quick 2.5)"
    )
    parser.add_argument(
        "--analysis-delay", type=float, default=3.0, help="simulated s from a call's end to analysis"
    )
    parser.add_argument(
        "--no-greenback", dest="greenback", action="store_false", help="skip the greenback portal"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile each worker (slower; results/*.pstats)"
    )
    parser.add_argument("--output", default=str(RESULTS / "wait_benchmark.json"), help="JSON results file")
    parser.add_argument("--no-readme-plot", action="store_true", help=f"leave {README_PLOT.name} alone")
    return parser


def settings_from(args: argparse.Namespace, argv: list[str] | None) -> Settings:
    """Settings from the command line, with the quick mode's defaults."""
    given_n = any(a == "--n" or a.startswith("--n=") for a in (sys.argv[1:] if argv is None else argv))
    sizes = tuple(int(x) for x in args.n.split(",") if x.strip())
    if args.quick and not given_n:
        sizes = (20, 100)
    sides = tuple(s.strip() for s in args.sides.split(",") if s.strip())
    if not sizes or any(n < 1 for n in sizes) or not sides or not set(sides) <= set(SIDES):
        raise SystemExit(f"--n takes positive integers, --sides any of {', '.join(SIDES)}")
    poll = args.poll_interval or (1.0 if args.quick else 5.0)
    return Settings(
        sizes=sizes,
        sides=sides,
        poll_interval=poll,
        ramp=poll if args.ramp is None else args.ramp,
        speed=args.speed or (2.5 if args.quick else 1.0),
        analysis_delay=args.analysis_delay,
        greenback=args.greenback,
        profile=args.profile,
    )


def main(argv: list[str] | None = None) -> int:
    """Run every side and N, print the table and the targets, write the JSON and the plots."""
    args = build_parser().parse_args(argv)
    settings = settings_from(args, argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    with SimulatorProcess(
        speed=1.0, analysis_delay=settings.analysis_delay, log_path=RESULTS / "simulator.log"
    ) as sim:
        print(
            f"simulator pid {sim.pid} on {sim.base_url}; calls of {settings.call_seconds:g} s; {settings}",
            flush=True,
        )
        for n in settings.sizes:
            for side in settings.sides:
                print(f"N={n:<5} {LABELS[side]:<26}", end=" ", flush=True)
                row = summarize(side, n, run_worker(sim, side, n, settings), settings)
                rows.append(row)
                print(
                    f"{row['cpu_ms_per_call']:.2f} CPU ms/call, "
                    f"{row['requests_per_call']:.2f} requests/call "
                    f"({row['resume_reads']} of them worker reads), "
                    f"{row['rss_kb_per_call']:.1f} KB/call, "
                    f"{row['connections_per_call']:.3f} conn/call, p99 {row['latency_p99']:.2f} s, "
                    f"{row['errors']} errors ({row['wall_seconds']:.0f} s)",
                    flush=True,
                )
    targets = [
        t for side in settings.sides if side != ALTERNATIVE for t in evaluate_targets(rows, settings, side)
    ]
    table = table_markdown(rows)
    print(f"\n{table}\n")
    for target in targets:
        mark = {True: "met    ", False: "NOT MET", None: "n/a    "}[target["met"]]
        print(f"{target['side']:<9} {mark}  {target['target']}: {target['detail']}")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "settings": {**asdict(settings), "call_seconds": settings.call_seconds},
        "machine": machine(),
        "rows": rows,
        "targets": targets,
        "table_markdown": table,
        "elapsed_seconds": time.monotonic() - started,
    }
    output.write_text(json.dumps(document, indent=1, default=str))
    plots = [output.with_suffix(".png")]
    # The README's plot shows the full default run only.
    default_run = settings_from(build_parser().parse_args([]), []) == settings
    if default_run and not args.no_readme_plot:
        plots.append(README_PLOT)
    plot(rows, settings, plots)
    print(
        f"\nwrote {output} and {', '.join(str(p) for p in plots)}; {time.monotonic() - started:.0f} s in all"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
