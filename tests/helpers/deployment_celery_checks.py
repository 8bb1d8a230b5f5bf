"""
What ``tests/deployment_celery_run.py`` checks after its runs: the campaign checks every deployment
scenario makes, the kills' aftermath, no key in a ``pg_dump`` of the metadata DB, and where the
OneInbox waits ran (triggerer queues) and how many requests each cost (the shared poller).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_oneinbox.triggers.shared_poller import MIN_SHARED_CALLS
from benchmarks.simulator_process import parse_iso
from tests.helpers.deployment_celery import CeleryDeployment
from tests.helpers.deployment_checks import (
    DeploymentSimulator,
    Findings,
    check_campaign_calls,
    find_secret,
    numbers,
)

#: The provider's triggers, by ``trigger.classpath``.
OURS = "airflow_provider_oneinbox."
STOP_ROUTE = "POST /v1/calls/{call_id}/stop"


class Repeating:
    """
    Calls ``action`` every ``every`` seconds on a daemon thread until stopped, first at once;
    exceptions are swallowed (the simulator or PostgreSQL stopping under it at the end).

    :param action: What to call.
    :param every: Seconds between calls.
    """

    def __init__(self, action: Callable[[], None], every: float) -> None:
        self.action, self.every = action, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Start calling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop calling (idempotent)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                self.action()
            self._stop.wait(self.every)


class FaultTurns:
    """
    Sets the simulator's faults to each of ``turns`` in turn, ``every`` seconds each (a fresh seed
    per turn), until stopped; then clears them.

    :param simulator: The simulator.
    :param turns: Fault settings (``POST /_sim/faults`` bodies).
    :param every: Seconds per turn.
    """

    def __init__(self, simulator: DeploymentSimulator, turns: list[dict[str, Any]], every: float) -> None:
        self.simulator, self.turns = simulator, turns
        self._turn = 0
        self._repeating = Repeating(self._next_turn, every)

    def start(self) -> None:
        """Start with the first turn."""
        self._repeating.start()

    def stop(self) -> None:
        """Stop turning and clear the faults (idempotent)."""
        self._repeating.stop()
        with contextlib.suppress(Exception):
            self.simulator.clear_faults()

    def _next_turn(self) -> None:
        turn, self._turn = self._turn, self._turn + 1
        self.simulator.clear_faults()  # a turn replaces the last one's fields, not merges
        self.simulator.set_faults(**self.turns[turn % len(self.turns)], seed=turn)


class QueueSampler:
    """
    Reads the ``trigger`` table every second while the campaign runs: each OneInbox trigger's
    ``queue`` and the triggerers (by ``triggerer_id``) that held it; the most each triggerer held.

    :param deployment: The deployment (its ``triggerer_jobs`` name each job).
    """

    def __init__(self, deployment: CeleryDeployment) -> None:
        self.deployment = deployment
        self.queues: dict[int, str | None] = {}
        self.holders: dict[int, set[str]] = {}
        self.others: dict[int, set[str]] = {}
        self.peak: Counter[str] = Counter()
        self._repeating = Repeating(self.sample, 1.0)

    def start(self) -> None:
        """Start sampling."""
        self._repeating.start()

    def stop(self) -> None:
        """Stop sampling (idempotent)."""
        self._repeating.stop()

    def sample(self) -> None:
        """One read of the ``trigger`` table."""
        rows = self.deployment.sql("SELECT id, classpath, queue, triggerer_id FROM trigger")
        held: Counter[str] = Counter()
        for trigger_id, classpath, queue, job in rows:
            holder = self.deployment.triggerer_of_job(job) if job is not None else None
            if not str(classpath).startswith(OURS):
                if holder:
                    self.others.setdefault(int(trigger_id), set()).add(holder)
                continue
            self.queues[int(trigger_id)] = queue
            if holder is not None:
                self.holders.setdefault(int(trigger_id), set()).add(holder)
                held[holder] += 1
        for name, count in held.items():
            self.peak[name] = max(self.peak[name], count)


def check_celery_run(
    findings: Findings,
    deployment: CeleryDeployment,
    simulator: DeploymentSimulator,
    sampler: QueueSampler,
    kills: dict[str, Any],
    states: dict[str, str],
    runs: dict[str, str],
    specs: tuple[dict[str, Any], dict[str, Any]],
    results_path: Path,
    api_key: str,
    work: Path,
    speed: float,
) -> dict[str, Any]:
    """Every check after the runs ended; the measured figures."""
    check = findings.check
    mapped, campaign = specs
    worker, triggerer = kills.get("worker"), kills["triggerer"]
    check(worker is not None, "a worker's session was killed while its tasks were placing calls")
    if worker is not None:
        check(worker["survivors"] == 0, f"no process of {worker['name']}'s session survived", f"{worker}")
        check(
            worker["process_groups"] > 1,
            f"{worker['name']}'s session held {worker['process_groups']} process groups "
            "(killing the worker's group alone would have left task processes running)",
            f"{worker}",
        )
    check(triggerer["waits_held"] > 0, f"triggerer-1 held {triggerer['waits_held']} waits when killed")
    task_states = {dag_id: deployment.task_states(dag_id, run_id) for dag_id, run_id in runs.items()}
    for dag_id, state in states.items():
        unsuccessful = [row for row in task_states[dag_id] if row[2] != "success"]
        check(
            state == "success",
            f"{dag_id} run succeeded",
            f"state {state}; (task, map index, state, try) not successful: {unsuccessful}",
        )
    tries = {(task, index): t for rows in task_states.values() for task, index, _, t in rows}
    left = {(task, index) for task, index, _ in (worker or {}).get("left_before_the_kill", [])}
    for task, index, try_number in (worker or {}).get("tasks", []):
        if (task, index) in left:
            continue  # deferred or done just before the kill: nothing of it was killed
        now = tries.get((task, index), 0)
        check(now > try_number, f"{task}[{index}] (try {try_number} on the killed worker) retried", f"{now}")
    check(
        worker is None or len(left) < len(worker.get("tasks", [])),
        f"a worker kill caught at least one task running (attempt {(worker or {}).get('attempt')})",
        f"all {sorted(left)} had left the worker before each kill: {(worker or {}).get('missed_before')}",
    )

    requests = simulator.requests()  # before all_calls, whose list pages the log would count
    calls, stats = simulator.all_calls(), simulator.stats()
    check_campaign_calls(findings, calls, stats["calls_created_by_to_number"], specs, speed)
    faults = stats["faults_injected"]
    check(
        all(faults.get(k) for k in ("429", "5xx", "lost_create_response")), f"faults injected: {faults}", ""
    )
    stops = stats["requests_by_route"].get(STOP_ROUTE, 0)
    stopped = [c["id"] for c in calls if c.get("end_reason") == "api_stop"]
    check(stops == 0 and not stopped, "no call hung up (nobody asked)", f"{stops} stops, {stopped}")
    check_results(findings, deployment, runs, mapped, campaign, results_path)

    dump = deployment.pg_dump(work / "metadata-dump.sql")
    text = dump.read_text(errors="replace")
    hits = find_secret([dump], api_key)
    check(
        "COPY public.task_instance" in text and not hits,
        f"no API key in a pg_dump of the metadata DB ({len(text) // 1024} KB)",
        "; ".join(hits) or "no task_instance table in the dump",
    )
    dump.unlink()

    figures = queue_checks(findings, deployment, sampler)
    segments = wait_segments(deployment.home / "logs", mapped["dag_id"])
    figures.update(poll_figures(findings, requests, segments))
    figures.update(
        contacts=sum(s["n"] for s in specs),
        calls=len(calls),
        duplicates=sum(c - 1 for c in stats["calls_created_by_to_number"].values() if c > 1),
        lost=sum(1 for s in specs for n in numbers(s) if n not in stats["calls_created_by_to_number"]),
        unasked_hang_ups=stops,
        faults_injected=faults,
        carrier_limit_refusals=stats["limits"]["refusals_by_code"].get("RATE_LIMITED", 0),
        stuck_in_queued_log_lines=sum(
            path.read_text(errors="replace").count("stuck in queued")
            for path in deployment.log_dir.glob("scheduler*.log")
        ),
        kills=kills,
    )
    return figures


def check_results(
    findings: Findings,
    deployment: CeleryDeployment,
    runs: dict[str, str],
    mapped: dict[str, Any],
    campaign: dict[str, Any],
    results_path: Path,
) -> None:
    """Every mapped instance returned its completed call; the campaign wrote one row per contact."""
    xcoms = deployment.sql(
        "SELECT map_index, value FROM xcom WHERE dag_id = :d AND run_id = :r AND task_id = 'place_call' "
        "AND key = 'return_value'",
        d=mapped["dag_id"],
        r=runs[mapped["dag_id"]],
    )
    values = {int(i): v if isinstance(v, dict) else json.loads(v) for i, v in xcoms}
    complete = [i for i in range(mapped["n"]) if (values.get(i) or {}).get("status") == "completed"]
    findings.check(
        len(complete) == mapped["n"], f"mapped: all {mapped['n']} results completed", f"{len(complete)}"
    )
    rows = (
        [json.loads(line) for line in results_path.read_text().splitlines()] if results_path.exists() else []
    )
    expected = numbers(campaign)
    findings.check(
        [r.get("to_number") for r in rows] == expected,
        f"campaign: {len(expected)} result rows in input order",
        f"{len(rows)} rows",
    )
    unsettled = [r for r in rows if r.get("status") != "completed" or len(r.get("call_ids") or []) != 1]
    findings.check(
        not unsettled, "campaign: every row completed with exactly one call id", f"{unsettled[:3]}"
    )


def queue_checks(findings: Findings, deployment: CeleryDeployment, sampler: QueueSampler) -> dict[str, Any]:
    """The OneInbox waits had the queue ``oneinbox`` and ran only on triggerer-1, by DB and logs."""
    queues = Counter(sampler.queues.values())
    holders = Counter(name for names in sampler.holders.values() for name in names)
    findings.check(
        bool(queues) and set(queues) == {"oneinbox"},
        f"every OneInbox trigger registered with queue 'oneinbox' ({len(sampler.queues)} triggers)",
        f"{dict(queues)}",
    )
    findings.check(
        bool(holders) and set(holders) == {"triggerer-1"},
        "OneInbox waits held only by triggerer-1 (--queues oneinbox), by trigger.triggerer_id",
        f"{dict(holders)}",
    )
    job_names = {job: name for name, jobs in deployment.triggerer_jobs.items() for job in jobs}
    logs: Counter[str] = Counter()
    for path in (deployment.home / "logs").rglob("*.trigger.*.log"):
        match = re.search(r"\.trigger\.(\d+)\.log$", path.name)
        if match:
            logs[job_names.get(int(match.group(1)), f"job {match.group(1)}")] += 1
    findings.check(
        bool(logs) and set(logs) == {"triggerer-1"},
        "trigger log files written only by triggerer-1's jobs",
        f"{dict(logs)}",
    )
    return {
        "triggers_by_queue": dict(queues),
        "triggers_by_triggerer": dict(holders),
        "peak_waits_by_triggerer": dict(sampler.peak),
        "trigger_log_files_by_triggerer": dict(logs),
        "other_triggers_by_triggerer": dict(Counter(n for names in sampler.others.values() for n in names)),
        "triggerer_jobs": deployment.triggerer_jobs,
    }


def wait_segments(logs: Path, dag_id: str) -> list[tuple[str, float, float]]:
    """
    ``(call id, start, end)`` (epoch seconds) of each wait of ``dag_id``'s tasks in one triggerer
    job, from its trigger log (``<attempt log>.trigger.<job id>.log``: JSON lines).

    :param logs: The Airflow home's ``logs`` folder.
    :param dag_id: The DAG.
    """
    segments = []
    for path in sorted((logs / f"dag_id={dag_id}").rglob("*.trigger.*.log")):
        times, call = [], None
        for line in path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                entry = json.loads(line)
                times.append(parse_iso(entry["timestamp"]))
                found = re.search(r"OneInbox call ([0-9a-f-]{36})", str(entry.get("event")))
                call = call or (found.group(1) if found else None)
        if call and len(times) > 1:
            segments.append((call, min(times), max(times)))
    return segments


def poll_figures(
    findings: Findings, requests: list[dict[str, Any]], segments: list[tuple[str, float, float]]
) -> dict[str, Any]:
    """
    How often the mapped waits read their call (``GET /v1/calls/{id}``) while they waited in the
    queue triggerer, per second of waiting: a wait polling alone every second reads it about once
    a second; waits sharing the poller learn their status from its list rounds instead.
    """
    reads = [
        (r["path"], r["time"])
        for r in requests
        if r["method"] == "GET" and r["route"] == "/v1/calls/{call_id}"
    ]
    in_wait = 0
    for call, start, end in segments:
        in_wait += sum(1 for path, at in reads if path == f"/v1/calls/{call}" and start <= at <= end)
    seconds = sum(end - start for _, start, end in segments)
    lists = [at for path, at in ((r["path"], r["time"]) for r in requests) if path == "/v1/calls/cursor"]
    rate = in_wait / seconds if seconds else 0.0
    # The poller shares only while MIN_SHARED_CALLS waits of the agent run in one triggerer; how
    # many overlap depends on when the kills land (a killed task's wait comes back alone, a
    # heartbeat timeout later), so the check reads the stretches where enough waits overlapped.
    shared_reads, shared_seconds = _while_overlapping(segments, reads, MIN_SHARED_CALLS)
    shared_rate = shared_reads / shared_seconds if shared_seconds else 0.0
    findings.check(
        shared_seconds >= 10 and shared_rate <= 0.5,
        f"the mapped waits shared the queue triggerer's poller: {shared_rate:.2f} reads of their call "
        f"per second of waiting while {MIN_SHARED_CALLS}+ waits overlapped ({shared_reads} in "
        f"{shared_seconds:.0f} wait-seconds; alone: about 1); over all {len(segments)} waits: "
        f"{rate:.2f} ({in_wait} in {seconds:.0f} s)",
        "",
    )
    return {
        "mapped_waits": len(segments),
        "mapped_wait_seconds": round(seconds),
        "call_reads_during_waits": in_wait,
        "call_reads_per_wait": round(in_wait / len(segments), 2) if segments else None,
        "call_reads_per_wait_second": round(rate, 3),
        "call_reads_per_shared_wait_second": round(shared_rate, 3),
        "shared_wait_seconds": round(shared_seconds),
        "list_rounds": len(lists),
    }


def _while_overlapping(
    segments: list[tuple[str, float, float]], reads: list[tuple[str, float]], at_least: int, step: float = 0.1
) -> tuple[int, float]:
    """
    The reads of each wait's own call made while ``at_least`` waits overlapped, and the
    wait-seconds spent so (each overlapping wait counts), on a ``step``-second grid.
    """
    if not segments:
        return 0, 0.0

    def overlapping(at: float) -> int:
        return sum(1 for _, start, end in segments if start <= at <= end)

    first, last = min(s for _, s, _ in segments), max(e for _, _, e in segments)
    wait_seconds = 0.0
    for i in range(int((last - first) / step) + 1):
        live = overlapping(first + i * step)
        if live >= at_least:
            wait_seconds += live * step
    count = 0
    for call, start, end in segments:
        count += sum(
            1
            for path, at in reads
            if path == f"/v1/calls/{call}" and start <= at <= end and overlapping(at) >= at_least
        )
    return count, wait_seconds
