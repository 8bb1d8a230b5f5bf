"""
The measured process of the wait benchmark: N triggers on one asyncio loop, as the triggerer runs them.

Started by :mod:`benchmarks.wait_benchmark` (``python -m benchmarks.wait_worker ...``), once per side
and N, so every measurement starts from a fresh interpreter. It imports what the triggerer would
have imported already, prints ``READY``, waits for ``GO`` on stdin (the benchmark then starts the
simulated calls), and runs one task per trigger the way ``TriggerRunner.run_trigger`` does in
Airflow 3.3: a ``greenback`` portal, then ``async for event in trigger.run()``. Trigger starts are
spread evenly over ``--ramp`` seconds (a campaign's deferrals reach the triggerer over time).

It measures its own CPU (``time.process_time``: every thread, including ``asyncio.to_thread``
and asgiref's executor), its resident memory (``/proc/self/statm`` every 50 ms, plus
``ru_maxrss``) and the wall time of each event, and writes them as JSON to ``--result``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import select
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

SIDES = ("ours", "ours_per_call", "http")
#: How often resident memory is sampled, in seconds.
RSS_SAMPLE_SECONDS = 0.05
#: Every how many samples one goes into the time series kept in the result.
SERIES_EVERY = 10
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process now."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE


def max_rss_bytes() -> int:
    """Peak resident set size of this process so far (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def raise_fd_limit() -> None:
    """Open-file soft limit up to the hard limit: thousands of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def trigger_specs(side: str, call_ids: Sequence[str], args: argparse.Namespace) -> tuple[type, list[dict]]:
    """The trigger class and each trigger's keyword arguments, as the triggerer rebuilds them."""
    if side in ("ours", "ours_per_call"):
        from airflow_provider_oneinbox.hooks import oneinbox_async  # noqa: F401  (run() imports it lazily)
        from airflow_provider_oneinbox.triggers import shared_poller  # noqa: F401  (likewise)
        from airflow_provider_oneinbox.triggers.calls import OneInboxCallTrigger

        trigger_class: type = OneInboxCallTrigger

        deadline = time.time() + args.timeout
        specs = [
            {
                "call_id": call_id,
                "oneinbox_conn_id": args.conn_id,
                "poll_interval": args.poll_interval,
                "deadline": deadline,
                "analysis_grace_period": args.analysis_grace_period,
                "max_consecutive_errors": 5,
                "hang_up_on_kill": True,
                # What the operator and sensor pass: the agent, and the default shared polling.
                "agent_id": args.agent_id,
                "shared_polling": side == "ours",
            }
            for call_id in call_ids
        ]
        return trigger_class, specs
    from airflow.providers.http.triggers.http import HttpEventTrigger

    import benchmarks.response_checks  # noqa: F401  (imported before the baseline, like a warm triggerer)

    specs = [
        {
            "response_check_path": "benchmarks.response_checks.call_finished_with_analysis",
            "http_conn_id": args.conn_id,
            "method": "GET",
            "endpoint": f"/v1/calls/{call_id}",
            "poll_interval": args.poll_interval,
        }
        for call_id in call_ids
    ]
    return HttpEventTrigger, specs


def summarize_event(side: str, payload: Any) -> dict[str, Any]:
    """
    What the benchmark needs of an event: did the wait succeed with the analysis.

    Our events carry no record (the task reads it when it resumes): the benchmark makes that read
    once the worker is done and checks the analysis then.
    """
    if side != "http":
        ok = payload.get("status") == "success" and not payload.get("analysis_missing")
        return {"status": payload.get("status"), "ok": ok, "detail": payload.get("message")}
    ok = isinstance(payload, dict) and payload.get("status") == "success"
    return {"status": payload.get("status") if isinstance(payload, dict) else repr(payload), "ok": ok}


async def run_all(
    side: str, trigger_class: type, specs: list[dict], call_ids: Sequence[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Start every trigger over the ramp, wait (bounded) for all of them, return the measurements."""
    import greenback

    n = len(specs)
    starts: list[float | None] = [None] * n
    events: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    errors: list[str | None] = [None] * n
    running = 0

    async def run_trigger(index: int, trigger: Any) -> None:
        nonlocal running
        running += 1
        try:
            if args.greenback:
                await greenback.ensure_portal()
            async for event in trigger.run():
                events[index].append({"t": time.time(), **summarize_event(side, event.payload)})
        except asyncio.CancelledError:
            errors[index] = "cancelled: no event before the benchmark's timeout"
        except Exception as exc:
            errors[index] = f"{type(exc).__name__}: {exc}"
        finally:
            running -= 1
            with contextlib.suppress(Exception):
                await trigger.cleanup()

    gc.collect()
    rss_baseline = rss_bytes()
    max_rss_before = max_rss_bytes()
    peak = {"rss": rss_baseline}
    series: list[tuple[float, int, int]] = []
    sampling = True
    wall0, mono0 = time.time(), time.monotonic()
    cpu0, usage0 = time.process_time(), resource.getrusage(resource.RUSAGE_SELF)

    async def sample() -> None:
        count = 0
        while sampling:
            rss = rss_bytes()
            peak["rss"] = max(peak["rss"], rss)
            if count % SERIES_EVERY == 0:
                series.append((round(time.monotonic() - mono0, 2), rss, running))
            count += 1
            await asyncio.sleep(RSS_SAMPLE_SECONDS)

    sampler = asyncio.create_task(sample())
    tasks: list[asyncio.Task[None]] = []
    started = 0
    while started < n:
        due = n if args.ramp <= 0 else min(n, int((time.monotonic() - mono0) / args.ramp * n) + 1)
        while started < due:
            trigger = trigger_class(**specs[started])
            starts[started] = time.time()
            tasks.append(asyncio.create_task(run_trigger(started, trigger), name=f"trigger {started}"))
            started += 1
        if started < n:
            await asyncio.sleep(0.01)
    left = args.timeout - (time.monotonic() - mono0)
    _, pending = await asyncio.wait(tasks, timeout=max(1.0, left))
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=30)
    all_done = time.monotonic()
    cpu1, usage1 = time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
    sampling = False
    await sampler
    return {
        "side": side,
        "n": n,
        "cpu_seconds": cpu1 - cpu0,
        "cpu_user": usage1.ru_utime - usage0.ru_utime,
        "cpu_system": usage1.ru_stime - usage0.ru_stime,
        "wall_seconds": all_done - mono0,
        "wall_start": wall0,
        "rss_baseline": rss_baseline,
        "rss_peak_sampled": peak["rss"],
        "max_rss_before": max_rss_before,
        "max_rss_after": max_rss_bytes(),
        "rss_series": series,
        "timed_out": len(pending),
        "calls": [
            {"call_id": call_ids[i], "start": starts[i], "events": events[i], "error": errors[i]}
            for i in range(n)
        ],
    }


def detach_stdout() -> TextIO:
    """
    A private copy of stdout for the handshake; stdout itself then goes to stderr (the log file).

    Airflow's loggers write to stdout: they must never fill a pipe that nobody reads.
    """
    sys.stdout.flush()
    handshake = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return handshake


def wait_for_go(handshake: TextIO, timeout: float) -> None:
    """Say ``READY``; return when ``GO`` arrives on stdin (bounded)."""
    handshake.write("READY\n")
    handshake.close()
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    if not ready or sys.stdin.readline().strip() != "GO":
        raise SystemExit("no GO from the benchmark")


def build_parser() -> argparse.ArgumentParser:
    """The worker's command line (the benchmark builds it)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.wait_worker", description=__doc__)
    parser.add_argument("--side", choices=SIDES, required=True)
    parser.add_argument("--calls", required=True, help="JSON file: the call ids to wait for")
    parser.add_argument("--result", required=True, help="where to write the JSON measurements")
    parser.add_argument("--conn-id", required=True)
    parser.add_argument("--agent-id", required=True, help="the agent the calls belong to")
    parser.add_argument("--poll-interval", type=float, required=True)
    parser.add_argument("--analysis-grace-period", type=float, default=60.0)
    parser.add_argument("--ramp", type=float, required=True, help="seconds over which triggers start")
    parser.add_argument("--timeout", type=float, required=True, help="seconds before waits are cancelled")
    parser.add_argument("--no-greenback", dest="greenback", action="store_false")
    parser.add_argument("--profile", help="write a cProfile of the waits (pstats) to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one side of one N; exit code 0 once the result file is written."""
    args = build_parser().parse_args(argv)
    handshake = detach_stdout()
    raise_fd_limit()
    with open(args.calls) as fh:
        call_ids: list[str] = json.load(fh)
    import airflow.triggers.base  # noqa: F401  (the triggerer has it loaded)

    trigger_class, specs = trigger_specs(args.side, call_ids, args)
    wait_for_go(handshake, timeout=600)
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(asyncio.run, run_all(args.side, trigger_class, specs, call_ids, args))
        profiler.dump_stats(args.profile)
    else:
        result = asyncio.run(run_all(args.side, trigger_class, specs, call_ids, args))
    result["greenback"] = args.greenback
    with open(args.result, "w") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
