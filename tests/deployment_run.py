"""
``scripts/deployment-test``: a real Airflow deployment runs two small campaigns against the
simulator with faults on while its processes are killed, then the simulator's own record is checked.

Runs at once, in one deployment (LocalExecutor on PostgreSQL, scheduler, dag-processor,
api-server, two triggerers): ``deploy_mapped_campaign`` (one mapped deferrable task per contact)
and ``deploy_campaign_operator`` (one deferrable campaign task). Reads of the API fail now and
then (503, dropped connections, 429); creates meet the simulator's carrier limit (429
``RATE_LIMITED``). Mid-campaign: SIGKILL a triggerer (restarted), a mapped instance's and the
campaign's task process (their retries must reattach, never dial again), the scheduler
(restarted). Then checks: every contact called exactly once (per idempotency key and per
number), every result present, caps kept, no API key in any log file. Exit status 1 on any failure.

``python -m tests.deployment_run [--keep-logs DIR]``
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

from tests.helpers.deployment import Deployment
from tests.helpers.deployment_checks import (
    DeploymentSimulator,
    Findings,
    check_campaign_calls,
    interrupted,
    numbers,
    poll,
    ran_to_the_end,
    report,
    wind_down,
)

#: A 22 s simulated call lasts 5.5 s. Faster makes deferrals resume within the ~2-5 s the task's
#: supervisor takes to report the deferral, and Airflow 3.3 then fails the try ("finished with
#: state success, but the task instance's state attribute is queued"): a retry each time.
SPEED = 4.0
MAPPED: dict[str, Any] = {
    "dag_id": "deploy_mapped_campaign",
    "n": 10,
    "prefix": "+141556",
    "agent_id": "agt_sales",
    "cap": 3,
}
CAMPAIGN: dict[str, Any] = {
    "dag_id": "deploy_campaign_operator",
    "n": 12,
    "prefix": "+141557",
    "agent_id": "agt_support",
    "cap": 2,
    "calls_per_minute": 60,
}
READ_FAULTS: dict[str, Any] = {
    "server_error_ratio": 0.05,
    "drop_ratio": 0.03,
    "rate_limit_ratio": 0.05,
    "retry_after": 1,
    "only_methods": ["GET"],
    "seed": 12,
}
RUN_TIMEOUT = 330.0


def main(argv: list[str] | None = None) -> int:
    """Run the deployment test; 0 if every check passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep-logs", type=Path, help="copy every log file here (also on success)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, interrupted)  # a CI timeout's SIGTERM still stops everything
    started = time.monotonic()
    api_key = "oi_sk_deploytest_" + secrets.token_hex(12)
    findings = Findings()
    work = Path(__import__("tempfile").mkdtemp(prefix="oneinbox-deployment-test-"))
    simulator = DeploymentSimulator(
        api_key, speed=SPEED, log_path=work / "simulator.log", options=["--max-calls-per-second", "1"]
    )
    connection_extra = {"max_retries": 4, "retry_wait_min": 0.2, "retry_wait_max": 2, "timeout": 10}
    deployment: Deployment | None = None
    try:
        simulator.start()
        print(f"== simulator at {simulator.base_url} (speed {SPEED}); starting the deployment", flush=True)
        deployment = Deployment(
            simulator.connection(**connection_extra),
            settings={
                "ONEINBOX_DEPLOY_CONCURRENCY": str(MAPPED["cap"]),
                "ONEINBOX_DEPLOY_POLL_INTERVAL": "1",
            },
            root=work / "deployment",
        )
        deployment.start()
        print(
            f"== deployment up after {time.monotonic() - started:.0f} s: {sorted(deployment.processes)}",
            flush=True,
        )
        simulator.set_faults(**READ_FAULTS)
        results_path = work / "campaign-results.jsonl"
        mapped_run = deployment.trigger(
            MAPPED["dag_id"], {"n": MAPPED["n"], "prefix": MAPPED["prefix"], "agent_id": MAPPED["agent_id"]}
        )
        campaign_run = deployment.trigger(
            CAMPAIGN["dag_id"],
            {
                "n": CAMPAIGN["n"], "prefix": CAMPAIGN["prefix"], "agent_id": CAMPAIGN["agent_id"],
                "max_concurrent_calls": CAMPAIGN["cap"], "calls_per_minute": CAMPAIGN["calls_per_minute"],
                "poll_interval": 1.0, "min_defer_seconds": 3.0, "analysis_grace_period": 10.0,
                "results_path": str(results_path),
            },
        )  # fmt: skip
        kills = run_kills(deployment, mapped_run, campaign_run)
        states = {}
        for spec, run_id in ((MAPPED, mapped_run), (CAMPAIGN, campaign_run)):
            left = RUN_TIMEOUT - (time.monotonic() - started)
            states[spec["dag_id"]] = deployment.wait_for_run(spec["dag_id"], run_id, max(left, 30))
            print(
                f"== {spec['dag_id']}: {states[spec['dag_id']]} after {time.monotonic() - started:.0f} s",
                flush=True,
            )
        simulator.clear_faults()
        print("== checks", flush=True)
        check_everything(
            findings, deployment, simulator, kills, states, mapped_run, campaign_run, results_path
        )
    except Exception as exc:
        ran_to_the_end(findings, "deployment test", exc, deployment)
    finally:
        wind_down(findings, deployment, simulator, work, args.keep_logs, api_key)
    return report(findings, started)


def run_kills(deployment: Deployment, mapped_run: str, campaign_run: str) -> dict[str, Any]:
    """SIGKILL a triggerer, a mapped task's and the campaign's task process, the scheduler; restart."""
    kills: dict[str, Any] = {}
    mapped, campaign = MAPPED["dag_id"], CAMPAIGN["dag_id"]

    def deferred_in_both() -> bool:
        rows = deployment.sql(
            "SELECT dag_id FROM task_instance WHERE state = 'deferred' AND run_id IN (:a, :b)",
            a=mapped_run,
            b=campaign_run,
        )
        return {mapped, campaign} <= {row[0] for row in rows}

    kills["deferred_in_both_before_triggerer_kill"] = bool(poll(deferred_in_both, 120, 0.5))
    deployment.kill("triggerer-1")
    print("== SIGKILL triggerer-1", flush=True)

    def running_mapped() -> int | None:
        rows = deployment.sql(
            "SELECT map_index FROM task_instance WHERE dag_id = :d AND run_id = :r "
            "AND task_id = 'place_call' AND state = 'running' AND pid IS NOT NULL ORDER BY map_index",
            d=mapped,
            r=mapped_run,
        )
        for (index,) in rows:
            pid = deployment.kill_task(mapped, mapped_run, "place_call", int(index))
            if pid:
                return int(index) + 1  # truthy for index 0
        return None

    hit = poll(running_mapped, 90, 0.1)
    kills["mapped_task"] = None if hit is None else hit - 1
    print(f"== SIGKILL the task process of place_call[{kills['mapped_task']}]", flush=True)
    time.sleep(2)
    deployment.restart("triggerer-1")
    print("== restart triggerer-1", flush=True)
    pid = poll(lambda: deployment.kill_task(campaign, campaign_run, "campaign"), 120, 0.1)
    kills["campaign_task_pid"] = pid
    print(f"== SIGKILL the campaign task's process (pid {pid})", flush=True)
    time.sleep(3)
    deployment.kill("scheduler")
    print("== SIGKILL the scheduler", flush=True)
    time.sleep(3)
    deployment.restart("scheduler")
    print("== restart the scheduler", flush=True)
    return kills


def check_everything(
    findings: Findings,
    deployment: Deployment,
    simulator: DeploymentSimulator,
    kills: dict[str, Any],
    states: dict[str, str],
    mapped_run: str,
    campaign_run: str,
    results_path: Path,
) -> None:
    """Every check after the runs ended."""
    check = findings.check
    check(
        kills["deferred_in_both_before_triggerer_kill"],
        "both campaigns were deferred when triggerer-1 was killed",
    )
    check(kills["mapped_task"] is not None, "a mapped instance's task process was killed while running")
    check(bool(kills["campaign_task_pid"]), "the campaign task's process was killed while running")
    for dag_id, state in states.items():
        check(state == "success", f"{dag_id} run succeeded", f"state {state}")
    mapped_tis = deployment.task_states(MAPPED["dag_id"], mapped_run)
    if kills["mapped_task"] is not None:
        tries = [t for task, i, _, t in mapped_tis if task == "place_call" and i == kills["mapped_task"]]
        check(
            bool(tries) and tries[0] > 1,
            f"place_call[{kills['mapped_task']}] was retried after its kill",
            f"{tries}",
        )
    campaign_tis = deployment.task_states(CAMPAIGN["dag_id"], campaign_run)
    tries = [t for task, _, _, t in campaign_tis if task == "campaign"]
    check(bool(tries) and tries[0] > 1, "the campaign task was retried after its kill", f"{tries}")

    calls = simulator.all_calls()
    stats = simulator.stats()
    check_campaign_calls(findings, calls, stats["calls_created_by_to_number"], (MAPPED, CAMPAIGN), SPEED)
    limits = stats["limits"]
    print(f"  simulator limits record: {json.dumps(limits)}; faults injected: {stats['faults_injected']}")
    check(bool(stats["faults_injected"]), "faults were injected", "none")
    for spec in (MAPPED, CAMPAIGN):
        peak = limits["peak_live_calls_by_agent"].get(spec["agent_id"], 0)
        check(
            peak <= spec["cap"],
            f"{spec['dag_id']}: the simulator's limits record: peak {peak} live calls <= cap {spec['cap']}",
            "exceeded",
        )
    refused = limits["refusals_by_code"].get("RATE_LIMITED", 0)
    print(f"  creates refused by the carrier limit (429 RATE_LIMITED) and retried: {refused}")

    # Results: every mapped instance returned its call; the campaign wrote one row per contact.
    xcoms = deployment.sql(
        "SELECT map_index, value FROM xcom WHERE dag_id = :d AND run_id = :r AND task_id = 'place_call' "
        "AND key = 'return_value'",
        d=MAPPED["dag_id"],
        r=mapped_run,
    )
    values = {int(i): v if isinstance(v, dict) else json.loads(v) for i, v in xcoms}
    complete = [i for i in range(MAPPED["n"]) if (values.get(i) or {}).get("status") == "completed"]
    check(
        len(complete) == MAPPED["n"],
        f"mapped: all {MAPPED['n']} results completed",
        f"{len(complete)} of them",
    )
    rows = (
        [json.loads(line) for line in results_path.read_text().splitlines()] if results_path.exists() else []
    )
    expected = numbers(CAMPAIGN)
    check(
        [r.get("to_number") for r in rows] == expected,
        f"campaign: {len(expected)} result rows in input order",
        f"{len(rows)} rows",
    )
    unsettled = [r for r in rows if r.get("status") != "completed" or len(r.get("call_ids") or []) != 1]
    check(not unsettled, "campaign: every row completed with exactly one call id", f"{unsettled[:3]}")


if __name__ == "__main__":
    sys.exit(main())
