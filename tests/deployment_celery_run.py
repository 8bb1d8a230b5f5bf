"""
``scripts/deployment-test --executor celery``: the campaign scenario on a CeleryExecutor deployment.

Redis (Debian's ``redis-server``, its own process on a free loopback port) is the broker, the
PostgreSQL metadata DB the result backend (``db+postgresql+psycopg2://``). Two ``airflow celery
worker`` processes listen to ``default`` and ``oneinbox``; the OneInbox tasks run on ``oneinbox``
(``queue=``). ``[triggerer] queues_enabled``: triggerer-1 runs ``--queues oneinbox``, triggerer-2
runs without ``--queues``. The simulator answers with faults (429, 503, dropped connections, lost
``POST /v1/calls`` responses) and its carrier limit. Mid-campaign: a worker's whole session is
SIGKILLed while its tasks are placing calls (restarted after; up to three times, until a kill
catches one of them running), then triggerer-1 while it holds the waits (restarted). A lost
worker's running tasks come back after ``[scheduler] task_instance_heartbeat_timeout``
(:data:`HEARTBEAT_TIMEOUT` here, 300 s by default), the tasks it had reserved after ``[scheduler]
task_queued_timeout`` (:data:`QUEUED_TIMEOUT` here, 600 s by default).

Checks, as ``tests/deployment_run.py``: each contact called once (per idempotency key and per
number), every result present, caps kept, no unasked hang-up, no API key in any log file; plus no
key in a ``pg_dump`` of the metadata DB, the killed tasks retried, the OneInbox waits only on
triggerer-1 (``trigger.queue``, ``trigger.triggerer_id``, its trigger logs) and sharing its poller.

``python -m tests.deployment_celery_run [--contacts N] [--keep-logs DIR]``
"""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.helpers.deployment_celery import CeleryDeployment
from tests.helpers.deployment_celery_checks import FaultTurns, QueueSampler, check_celery_run
from tests.helpers.deployment_checks import (
    DeploymentSimulator,
    Findings,
    interrupted,
    numbers,
    poll,
    ran_to_the_end,
    report,
    wind_down,
)

#: A 22 s simulated call lasts 11 s; the mapped calls (suffix 01: talks 30 s) 16 s: long enough for
#: the mapped waits to overlap in the queue triggerer and share its poller (from 4 waits of an agent).
SPEED = 2.0
#: The OneInbox tasks' Celery queue, and the triggerer queue of their waits.
QUEUE = "oneinbox"
#: ``[scheduler] task_instance_heartbeat_timeout`` (default 300 s): how late a lost worker's
#: running tasks come back (failed, then retried).
HEARTBEAT_TIMEOUT = 30
#: ``[scheduler] task_queued_timeout`` (default 600 s, checked every
#: ``task_queued_timeout_check_interval``, default 120 s): how late the tasks a lost worker had
#: reserved but not started come back (Celery prefetches; their messages stay unacknowledged in
#: Redis until the broker's visibility timeout, which Airflow sets to a day). They are revoked and
#: queued again, never started twice.
QUEUED_TIMEOUT, QUEUED_CHECK_INTERVAL = 90, 10
#: Faults, in turns of :data:`FAULT_TURN` seconds (the simulator has one filter for all of them).
#: Reads: 503s, dropped connections, 429s. Creates: lost responses (the call was placed) and
#: 429s; not 503s or drops, which leave a create's outcome unknown to anyone, so the provider
#: rightly reports the contact "unknown" instead of dialling again (the carrier limit adds its own
#: 429 RATE_LIMITED refusals).
READ_FAULTS: dict[str, Any] = {
    "server_error_ratio": 0.05, "drop_ratio": 0.03, "rate_limit_ratio": 0.05, "retry_after": 1,
    "only_methods": ["GET"],
}  # fmt: skip
CREATE_FAULTS: dict[str, Any] = {
    "lose_create_response": 1, "lose_create_response_ratio": 0.1, "rate_limit_ratio": 0.1, "retry_after": 1,
    "only_methods": ["POST"], "only_routes": ["/v1/calls"],
}  # fmt: skip
FAULT_TURN = 4.0
#: Seconds from the start until both runs must have ended (the default campaign); more contacts, more.
RUN_TIMEOUT, RUN_TIMEOUT_PER_EXTRA_CONTACT = 330.0, 8.0


def specs(contacts: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The mapped campaign and the campaign operator's runs, ``contacts`` split between them."""
    mapped = {"dag_id": "deploy_mapped_campaign", "n": contacts - contacts // 2, "prefix": "+141566",
              "agent_id": "agt_sales", "cap": 8,
              "suffixes": ["01"]}  # fmt: skip
    campaign = {"dag_id": "deploy_campaign_operator", "n": contacts // 2, "prefix": "+141567",
                "agent_id": "agt_support", "cap": 3, "calls_per_minute": 60}  # fmt: skip
    return mapped, campaign


def main(argv: list[str] | None = None) -> int:
    """Run the Celery deployment test; 0 if every check passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=24, help="contacts over both campaigns")
    parser.add_argument("--keep-logs", type=Path, help="copy every log file here (also on success)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    mapped, campaign = specs(args.contacts)
    api_key = "oi_sk_deploytest_" + secrets.token_hex(12)
    findings = Findings()
    figures: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="oneinbox-celery-deployment-test-"))
    simulator = DeploymentSimulator(
        api_key, speed=SPEED, log_path=work / "simulator.log", options=["--max-calls-per-second", "2"]
    )
    connection_extra = {"max_retries": 4, "retry_wait_min": 0.2, "retry_wait_max": 2, "timeout": 10}
    deployment: CeleryDeployment | None = None
    sampler: QueueSampler | None = None
    faults: FaultTurns | None = None
    try:
        simulator.start()
        deployment = CeleryDeployment(
            simulator.connection(**connection_extra),
            settings={
                "ONEINBOX_DEPLOY_CONCURRENCY": str(mapped["cap"]),
                "ONEINBOX_DEPLOY_POLL_INTERVAL": "1",
                "ONEINBOX_DEPLOY_QUEUE": QUEUE,
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": str(QUEUED_TIMEOUT),
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": str(QUEUED_CHECK_INTERVAL),
            },
            root=work / "deployment",
            queues=("default", QUEUE),
            workers=2,
            worker_concurrency=4,
            triggerer_queues=(QUEUE, None),
        )
        deployment.start()
        assert deployment.redis is not None
        print(
            f"== deployment up after {time.monotonic() - started:.0f} s ({deployment.redis.version()}): "
            f"{sorted(deployment.processes)}; triggerer jobs {deployment.triggerer_jobs}",
            flush=True,
        )
        sampler = QueueSampler(deployment)
        sampler.start()
        faults = FaultTurns(simulator, [READ_FAULTS, CREATE_FAULTS], FAULT_TURN)
        faults.start()
        results_path = work / "campaign-results.jsonl"
        runs = {
            mapped["dag_id"]: deployment.trigger(
                mapped["dag_id"], {k: mapped[k] for k in ("n", "prefix", "agent_id", "suffixes")}
            ),
            campaign["dag_id"]: deployment.trigger(
                campaign["dag_id"],
                {
                    "n": campaign["n"], "prefix": campaign["prefix"], "agent_id": campaign["agent_id"],
                    "max_concurrent_calls": campaign["cap"], "calls_per_minute": campaign["calls_per_minute"],
                    "poll_interval": 1.0, "min_defer_seconds": 3.0, "analysis_grace_period": 10.0,
                    "results_path": str(results_path),
                },
            ),
        }  # fmt: skip
        kills = run_kills(deployment, simulator, runs, mapped, campaign, started)
        states = {}
        for dag_id, run_id in runs.items():
            budget = RUN_TIMEOUT + RUN_TIMEOUT_PER_EXTRA_CONTACT * max(0, args.contacts - 24)
            left = budget - (time.monotonic() - started)
            states[dag_id] = deployment.wait_for_run(dag_id, run_id, max(left, 30))
            print(f"== {dag_id}: {states[dag_id]} after {time.monotonic() - started:.0f} s", flush=True)
        sampler.stop()
        faults.stop()
        print("== checks", flush=True)
        figures = check_celery_run(
            findings, deployment, simulator, sampler, kills, states, runs, (mapped, campaign),
            results_path, api_key, work, SPEED,
        )  # fmt: skip
    except Exception as exc:
        ran_to_the_end(findings, "Celery deployment test", exc, deployment)
    finally:
        for thread in (sampler, faults):
            if thread is not None:
                thread.stop()
        wind_down(findings, deployment, simulator, work, args.keep_logs, api_key)
    figures["wall_seconds"] = round(time.monotonic() - started)
    return report(findings, started, figures)


#: Worker kills tried until one catches a task running: a sampled task may defer (its process
#: gone, its try going on in the triggerer) in the moment between the sample and the kill.
WORKER_KILL_ATTEMPTS = 3


def run_kills(
    deployment: CeleryDeployment,
    simulator: DeploymentSimulator,
    runs: dict[str, str],
    mapped: dict[str, Any],
    campaign: dict[str, Any],
    started: float,
) -> dict[str, Any]:
    """SIGKILL a worker's whole session while its tasks place calls, then triggerer-1; restart each."""
    kills: dict[str, Any] = {"worker": None}
    missed: list[dict[str, Any]] = []
    for attempt in range(1, WORKER_KILL_ATTEMPTS + 1):
        # Again at once on any task placing calls: the triggerer kill after it needs waits left.
        at_least = 2 if attempt == 1 else 1
        kill = kill_a_placing_worker(deployment, simulator, runs, (mapped, campaign), started, at_least)
        if kill is None:
            break
        kills["worker"] = {**kill, "attempt": attempt, "missed_before": missed}
        if len(kill["left_before_the_kill"]) < len(kill["tasks"]):
            break
        print(f"== that kill caught no task running (attempt {attempt}): another", flush=True)
        missed = [*missed, {k: kill[k] for k in ("name", "at_seconds", "tasks", "left_before_the_kill")}]

    def queue_triggerer_holding(at_least: int) -> int | None:
        jobs = deployment.triggerer_jobs["triggerer-1"]
        rows = deployment.sql(
            "SELECT count(*) FROM trigger WHERE triggerer_id = :j AND classpath LIKE :ours",
            j=jobs[-1],
            ours="airflow_provider_oneinbox.%",
        )
        held = int(rows[0][0])
        return held if held >= at_least else None

    held = poll(lambda: queue_triggerer_holding(4), 90, 0.5) or queue_triggerer_holding(1)
    kills["triggerer"] = {"waits_held": held or 0, "at_seconds": round(time.monotonic() - started)}
    deployment.kill("triggerer-1")
    print(f"== SIGKILL triggerer-1 (--queues {QUEUE}) holding {held} waits", flush=True)
    time.sleep(2)
    deployment.restart("triggerer-1")
    print(f"== restart triggerer-1: jobs {deployment.triggerer_jobs['triggerer-1']}", flush=True)
    return kills


def kill_a_placing_worker(
    deployment: CeleryDeployment,
    simulator: DeploymentSimulator,
    runs: dict[str, str],
    specs: tuple[dict[str, Any], dict[str, Any]],
    started: float,
    at_least: int,
) -> dict[str, Any] | None:
    """
    SIGKILL the whole session of the worker running most tasks that are placing calls (the
    campaign task, or a ``place_call`` whose call is not created yet), ``at_least`` of them
    within 90 s, else one within 60 s more; then start it again. What it killed, or None.
    """
    mapped, campaign = specs
    ours = {*numbers(mapped), *numbers(campaign)}
    mapped_numbers = numbers(mapped)

    def placing_on_a_worker(at_least: int) -> tuple[str, list[tuple[str, int, int]]] | None:
        stats = simulator.stats()
        if not stats["requests_by_route"].get("POST /v1/calls", 0):
            return None  # the creates have not begun (the carrier limit holds most in their retries)
        created = stats["calls_created_by_to_number"]
        # Every task of the runs running on a worker dies with it (the contacts tasks too).
        rows = deployment.sql(
            "SELECT task_id, map_index, try_number, pid FROM task_instance WHERE run_id IN (:a, :b) "
            "AND state = 'running' AND pid IS NOT NULL",
            a=runs[mapped["dag_id"]],
            b=runs[campaign["dag_id"]],
        )
        by_worker: dict[str, list[tuple[str, int, int]]] = {}
        for task_id, map_index, try_number, pid in rows:
            worker = deployment.worker_of_pid(int(pid))
            if worker is not None:
                by_worker.setdefault(worker, []).append((str(task_id), int(map_index), int(try_number)))

        def placing(tasks: list[tuple[str, int, int]]) -> int:
            # A place_call whose call exists is about to defer: it may be gone before the kill.
            return sum(
                1
                for task, index, _ in tasks
                if task == "campaign" or (task == "place_call" and not created.get(mapped_numbers[index]))
            )

        busiest = max(by_worker.items(), key=lambda item: placing(item[1]), default=None)
        return busiest if busiest is not None and placing(busiest[1]) >= at_least else None

    hit = poll(lambda: placing_on_a_worker(at_least), 90, 0.2)
    if hit is None and at_least > 1:
        hit = poll(lambda: placing_on_a_worker(1), 60, 0.2)
    if hit is None:
        return None
    worker, tasks = hit
    stats = simulator.stats()
    session = deployment.kill_worker_session(worker)
    # A task that deferred (its process gone) between the sample and the kill was not killed:
    # its try goes on in the triggerer. A killed one stays "running" until the heartbeat timeout.
    after = {
        (str(task), int(index)): str(state)
        for dag_id in (mapped["dag_id"], campaign["dag_id"])
        for task, index, state, _ in deployment.task_states(dag_id, runs[dag_id])
    }
    created = stats["calls_created_by_to_number"]
    kill = {
        "name": worker,
        "at_seconds": round(time.monotonic() - started),
        "tasks": tasks,
        "creates_requested_before": stats["requests_by_route"].get("POST /v1/calls", 0),
        "calls_created_before": sum(created.get(n, 0) for n in ours),
        # A killed place_call whose call existed was between its create and its deferral.
        "killed_place_calls_with_call_created": sum(
            1 for task, i, _ in tasks if task == "place_call" and created.get(mapped_numbers[i])
        ),
        "killed_campaign_calls_created": sum(created.get(n, 0) for n in numbers(campaign))
        if any(task == "campaign" for task, _, _ in tasks)
        else None,
        "left_before_the_kill": [
            [task, index, after.get((task, index))]
            for task, index, _ in tasks
            if after.get((task, index)) != "running"
        ],
        **session,
    }
    print(f"== SIGKILL {worker}'s whole session: {kill}", flush=True)
    time.sleep(2)
    deployment.restart(worker)
    print(f"== restart {worker}", flush=True)
    return kill


if __name__ == "__main__":
    sys.exit(main())
