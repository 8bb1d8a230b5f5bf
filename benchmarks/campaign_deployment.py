"""
A campaign through a real deployment, as mapped tasks and as one campaign task (issue 12).

One deployment (``tests/helpers/deployment.py``: LocalExecutor on PostgreSQL, scheduler,
dag-processor, api-server, two triggerers) and one simulator (its own process, no faults, no
limits) run the same campaign of N contacts in both forms, one after the other, with the same
concurrency cap and the same simulated calls (14-32 s simulated, mean about 22 s; the
simulator's speed makes one last a couple of real seconds):

* ``deploy_mapped_campaign``: one mapped deferrable ``OneInboxPlaceCallOperator`` per contact,
  ``max_active_tis_per_dag`` = the cap (no per-minute pacing exists in this form);
* ``deploy_campaign_operator``: one ``OneInboxCampaignOperator`` (deferrable), the cap and
  ``calls_per_minute``.

Per run: wall time (the DAG run's start to end), CPU seconds of all Airflow processes together
(every process under the scheduler, dag-processor, api-server and triggerers, from ``/proc``:
own + waited-for children, so the executor's task processes are in), metadata DB rows written
(``pg_stat_user_tables`` inserts + updates + deletes), requests to OneInbox per call. Also the
whole deployment's CPU from ``getrusage(RUSAGE_CHILDREN)`` after everything was stopped, as a
cross-check of the ``/proc`` sum. Targets checked: campaign CPU per call <= 1/10 of mapped;
campaign wall <= 1.1 x what pacing allows, ``max(N / calls_per_minute, N x mean call / cap)``.

``python -m benchmarks.campaign_deployment --n 300 1000``; ``--quick`` for a smoke run;
``--forms campaign`` to skip the mapped form. Writes ``benchmarks/results/campaign_deployment-*.json``
and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_provider_oneinbox._compat import UTC
from benchmarks.campaign_measure import (
    call_stats,
    component_of,
    cpu_delta,
    db_delta,
    db_rows,
    process_tree,
    wait_for_db_stats,
)
from tests.helpers.deployment import Deployment
from tests.helpers.deployment_checks import DeploymentSimulator

RESULTS = Path(__file__).resolve().parent / "results"
FORMS = {"mapped": "deploy_mapped_campaign", "campaign": "deploy_campaign_operator"}
#: Number prefixes (6 digits after +): one per run, so no two runs share a number.
PREFIXES = ("+141550", "+141551", "+141552", "+141553", "+141554", "+141555", "+141556", "+141557")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[300, 1000], help="campaign sizes")
    parser.add_argument("--forms", nargs="+", choices=list(FORMS), default=list(FORMS))
    parser.add_argument("--cap", type=int, default=10, help="most live calls at once (both forms)")
    parser.add_argument("--calls-per-minute", type=float, default=120.0, help="the campaign form's pacing")
    parser.add_argument("--speed", type=float, default=10.0, help="simulated seconds per real second")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="both forms' poll interval (s)")
    parser.add_argument(
        "--min-defer-seconds", type=float, default=30.0, help="the campaign defers only for longer waits"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: N = 20, both forms")
    parser.add_argument("--timeout", type=float, default=3600.0, help="most seconds per run")
    args = parser.parse_args(argv)
    if args.quick:
        args.n = [20]
    return args


def run_one(
    deployment: Deployment,
    simulator: DeploymentSimulator,
    form: str,
    n: int,
    prefix: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One campaign run, measured."""
    dag_id = FORMS[form]
    simulator.reset()
    conf: dict[str, Any] = {"n": n, "prefix": prefix}
    if form == "campaign":
        conf |= {
            "max_concurrent_calls": args.cap,
            "calls_per_minute": args.calls_per_minute,
            "poll_interval": args.poll_interval,
            "min_defer_seconds": args.min_defer_seconds,
            "analysis_grace_period": 60.0,
        }
    roots = {name: process.pid for name, process in deployment.processes.items()}
    rows_before = db_rows(deployment.sql)
    triggers_before = deployment.sql("SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'trigger'")
    cpu_before = process_tree(roots)
    started = time.monotonic()
    run_id = deployment.trigger(dag_id, conf)
    state = deployment.wait_for_run(dag_id, run_id, args.timeout)
    harness_wall = time.monotonic() - started
    cpu_after = process_tree(roots)
    wait_for_db_stats()
    rows = db_delta(rows_before, db_rows(deployment.sql))
    triggers_after = deployment.sql("SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'trigger'")
    (run_wall,) = deployment.sql(
        "SELECT EXTRACT(EPOCH FROM end_date - start_date) FROM dag_run WHERE dag_id = :d AND run_id = :r",
        d=dag_id,
        r=run_id,
    )[0]
    calls = call_stats(simulator.all_calls(), simulator.stats(), args.speed)
    cpu = cpu_delta(cpu_before, cpu_after)
    by_component: dict[str, float] = {}
    for name, seconds in cpu.items():
        by_component[component_of(name)] = round(by_component.get(component_of(name), 0.0) + seconds, 2)
    total_cpu = round(sum(cpu.values()), 2)
    # The mapped form has no per-minute pacing: only its concurrency cap bounds it.
    per_minute = n / args.calls_per_minute * 60.0 if form == "campaign" else 0.0
    pacing_bound = max(per_minute, n * calls.mean_call_seconds / args.cap)
    result = {
        "form": form,
        "n": n,
        "state": state,
        "wall_seconds": round(float(run_wall), 1),
        "harness_wall_seconds": round(harness_wall, 1),
        "airflow_cpu_seconds": total_cpu,
        "airflow_cpu_by_component": by_component,
        "cpu_seconds_per_call": round(total_cpu / n, 3),
        "db_rows_written": sum(rows.values()),
        "db_rows_by_table": rows,
        "calls_placed": calls.calls,
        "mean_call_seconds": round(calls.mean_call_seconds, 2),
        "requests_to_oneinbox": calls.requests,
        "requests_per_call": round(calls.requests_per_call, 2),
        "requests_by_route": calls.requests_by_route,
        "pacing_bound_seconds": round(pacing_bound, 1),
        "task_tries": deployment.task_states(dag_id, run_id)[-1][3] if form == "campaign" else None,
        "deferrals": int(triggers_after[0][0]) - int(triggers_before[0][0]),
    }
    print(
        f"  {form:8} N={n:5}: {state}, {result['wall_seconds']} s wall, {total_cpu} CPU s "
        f"({result['cpu_seconds_per_call']}/call), {result['db_rows_written']} DB rows, "
        f"{result['requests_per_call']} requests/call, {calls.calls} calls",
        flush=True,
    )
    return result


def targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, per N with both forms measured."""
    checks = []
    for n in sorted({r["n"] for r in results}):
        forms = {r["form"]: r for r in results if r["n"] == n}
        campaign, mapped = forms.get("campaign"), forms.get("mapped")
        if campaign is not None:
            limit = 1.1 * campaign["pacing_bound_seconds"]
            checks.append(
                {
                    "n": n,
                    "target": "campaign wall <= 1.1 x pacing bound",
                    "value": campaign["wall_seconds"],
                    "limit": round(limit, 1),
                    "met": campaign["wall_seconds"] <= limit,
                }
            )
        if campaign is not None and mapped is not None:
            ratio = campaign["cpu_seconds_per_call"] / mapped["cpu_seconds_per_call"]
            checks.append(
                {
                    "n": n,
                    "target": "campaign CPU/call <= 1/10 of mapped",
                    "value": round(ratio, 3),
                    "limit": 0.1,
                    "met": ratio <= 0.1,
                }
            )
    return checks


def table(results: list[dict[str, Any]], checks: list[dict[str, Any]]) -> str:
    """The markdown table."""
    lines = [
        "| form | N | wall (s) | pacing bound (s) | Airflow CPU (s) | CPU s/call | DB rows | DB rows/call "
        "| requests/call |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['form']} | {r['n']} | {r['wall_seconds']} | {r['pacing_bound_seconds']} | "
            f"{r['airflow_cpu_seconds']} | {r['cpu_seconds_per_call']} | {r['db_rows_written']} | "
            f"{r['db_rows_written'] / r['n']:.1f} | {r['requests_per_call']} |"
        )
    lines.append("")
    for c in checks:
        lines.append(
            f"- N={c['n']}: {c['target']}: {c['value']} (limit {c['limit']}): "
            + ("met" if c["met"] else "NOT met")
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every run succeeded (targets are reported, not enforced)."""
    args = parse_args(argv)
    api_key = "oi_sk_bench_" + secrets.token_hex(8)
    work = Path(tempfile.mkdtemp(prefix="oneinbox-campaign-bench-"))
    simulator = DeploymentSimulator(api_key, speed=args.speed, log_path=work / "simulator.log")
    results: list[dict[str, Any]] = []
    rusage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    whole: dict[str, Any] = {}
    simulator.start()
    try:
        connection = simulator.connection(timeout=30)
        settings = {
            "ONEINBOX_DEPLOY_CONCURRENCY": str(args.cap),
            "ONEINBOX_DEPLOY_POLL_INTERVAL": str(args.poll_interval),
        }
        with Deployment(connection, settings=settings, root=work / "deployment") as deployment:
            roots = {name: process.pid for name, process in deployment.processes.items()}
            print(
                f"== deployment up; campaign sizes {args.n}, forms {args.forms}, cap {args.cap}", flush=True
            )
            idle_before, idle_started = process_tree(roots), time.monotonic()
            wait_for_db_stats()
            idle = sum(cpu_delta(idle_before, process_tree(roots)).values())
            whole["idle_cpu_seconds_per_second"] = round(idle / (time.monotonic() - idle_started), 3)
            index = 0
            for n in args.n:
                for form in args.forms:
                    results.append(
                        run_one(deployment, simulator, form, n, PREFIXES[index % len(PREFIXES)], args)
                    )
                    index += 1
            whole["proc_cpu_seconds_at_end"] = round(
                sum(total for _, total in process_tree(roots).values()), 1
            )
        whole["cli_and_migrate_cpu_seconds"] = round(deployment.cli_cpu_seconds, 1)
        simulator_cpu = simulator.cpu_seconds()
    finally:
        simulator.stop()
        if os.environ.get("ONEINBOX_KEEP_DEPLOYMENT") != "1":  # =1 keeps every log for a look
            shutil.rmtree(work, ignore_errors=True)
    rusage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    children = (rusage_after.ru_utime + rusage_after.ru_stime) - (
        rusage_before.ru_utime + rusage_before.ru_stime
    )
    whole["rusage_children_cpu_seconds"] = round(children, 1)
    whole["simulator_cpu_seconds"] = round(simulator_cpu, 1)
    whole["rusage_minus_simulator_and_cli"] = round(
        children - simulator_cpu - whole.get("cli_and_migrate_cpu_seconds", 0.0), 1
    )
    whole["note"] = (
        "rusage_children counts every waited-for descendant of this process: the simulator, airflow db "
        "migrate and the CLI calls (dags unpause/trigger), and every Airflow process from its start to "
        "its stop; proc_cpu_seconds_at_end is the /proc sum over the Airflow processes just before "
        "they were stopped, so rusage_minus_simulator_and_cli should be it plus the shutdowns' CPU"
    )
    checks = targets(results)
    report = {
        "benchmark": "campaign_deployment",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
        },
        "airflow": __import__("airflow").__version__,
        "settings": {
            k: getattr(args, k)
            for k in ("cap", "calls_per_minute", "speed", "poll_interval", "min_defer_seconds")
        },
        "results": results,
        "targets": checks,
        "whole_deployment": whole,
    }
    RESULTS.mkdir(exist_ok=True)
    out = (
        RESULTS / f"campaign_deployment-{datetime.now(UTC):%Y%m%dT%H%M%S}-n{'-'.join(map(str, args.n))}.json"
    )
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results, checks))
    print(f"\nwhole deployment: {json.dumps(whole)}\nwritten to {out}")
    return 0 if all(r["state"] == "success" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
