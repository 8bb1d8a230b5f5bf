"""
The notify scenario's checks (``tests/deployment_notify_run.py``): the simulator's record of the
calls, the DAG runs' and task instances' states and the Deadline Alert's callback row in the
metadata DB, and the log files that show where each call was placed.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from typing import Any

from airflow_provider_oneinbox._compat import datetime_fromisoformat
from tests.helpers.deployment import Deployment
from tests.helpers.deployment_checks import DeploymentSimulator, Findings

#: The escalation DAG the failure example's notifier starts (the notifier's default id).
ESCALATION_DAG = "oneinbox_notify_escalation"
#: Where the executor's callback supervisor writes a callback's log (Airflow 3.3's ``ExecuteCallback``).
EXECUTOR_CALLBACK_LOGS = "airflow-home/logs/executor_callbacks/"


def calls_of(calls: list[dict[str, Any]], dag_id: str, to_number: str) -> list[dict[str, Any]]:
    """The calls to ``to_number`` whose metadata names ``dag_id`` (as the notifier writes it)."""
    return [
        c
        for c in calls
        if c["to_number"] == to_number and (c.get("metadata") or {}).get("airflow_dag_id") == dag_id
    ]


def files_naming(deployment: Deployment, text: str) -> list[str]:
    """The log files (relative to the deployment's root) that hold ``text``."""
    needle = text.encode()
    found = []
    for path in deployment.log_files():
        try:
            if needle in path.read_bytes():
                found.append(
                    str(path.relative_to(deployment.root) if path.is_relative_to(deployment.root) else path)
                )
        except OSError:
            continue
    return sorted(found)


def placed_at(deployment: Deployment, files: list[str], call_id: str) -> float | None:
    """When a JSON log line of ``files`` says the call was placed (epoch seconds); ``None`` if none does."""

    for name in files:
        for line in (deployment.root / name).read_text(errors="replace").splitlines():
            if f"Placed notification call {call_id}" in line:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    return datetime_fromisoformat(json.loads(line)["timestamp"]).timestamp()
    return None


def check_escalation(
    findings: Findings,
    deployment: Deployment,
    calls: list[dict[str, Any]],
    failing_run: str,
    escalation: tuple[str, str] | None,
    on_call: str,
    backup: str,
) -> None:
    """
    One call to the on-call number for the failed task, one escalation run that called the backup
    once and stopped at its acknowledging outcome, and the failed task still failed.

    :param findings: Where the results go.
    :param deployment: The deployment.
    :param calls: The simulator's record of every call.
    :param failing_run: The failing DAG's run id.
    :param escalation: ``(run_id, state)`` of the finished escalation run, or ``None``.
    :param on_call: The number the notifier calls first.
    :param backup: The escalation number.
    """
    check = findings.check
    failing_dag = "oneinbox_notify_on_failure"
    states = {t: s for t, _, s, _ in deployment.task_states(failing_dag, failing_run)}
    check(
        states == {"extract": "success", "load_warehouse": "failed"},
        "the failing task stays failed after the escalation (its upstream succeeded)",
        f"{states}",
    )
    first = calls_of(calls, failing_dag, on_call)
    check(
        len(first) == 1, f"exactly one call to the on-call number {on_call} for the failure", f"{len(first)}"
    )
    if first:
        told = first[0].get("variables") or {}
        check(
            told.get("alert") == "task_failed" and told.get("task_id") == "load_warehouse",
            "the on-call call says which task failed (alert task_failed, task_id load_warehouse)",
            f"{told}",
        )
        check(
            first[0].get("outcome") == "Not Connected",
            "the on-call call was not answered (outcome Not Connected: no acknowledgement)",
            f"{first[0].get('outcome')}",
        )
    second = calls_of(calls, ESCALATION_DAG, backup)
    check(len(second) == 1, f"exactly one call to the backup {backup}", f"{len(second)}")
    if second:
        told = second[0].get("variables") or {}
        check(
            told.get("escalation_step") == "1" and told.get("task_id") == "load_warehouse",
            "the backup's call is escalation step 1 about the same failure",
            f"{told}",
        )
    runs = deployment.sql("SELECT run_id, state FROM dag_run WHERE dag_id = :d", d=ESCALATION_DAG)
    check(len(runs) == 1, "exactly one escalation run was started", f"{runs}")
    check(
        escalation is not None and escalation[1] == "success",
        "the escalation run succeeded",
        f"{escalation}",
    )
    if escalation is None:
        return
    run_id = escalation[0]
    check(run_id.startswith("escalation__"), "the escalation run's id is the notification's key", run_id)
    steps = {t: s for t, _, s, _ in deployment.task_states(ESCALATION_DAG, run_id)}
    expected = {"wait_for_first_call": "success", "escalate_1": "success", "call_1": "success"}
    expected.update({"escalate_2": "success", **{f"call_{n}": "skipped" for n in range(2, 6)}})
    got = {t: steps.get(t) for t in expected}
    check(
        got == expected,
        "escalation: first call waited, backup called, acknowledged: no more calls",
        f"{steps}",
    )
    print(f"  escalation run {run_id}: {steps}", flush=True)
    # Nobody left after the backup ends the chain the same way: the step's log says which it was.
    said = files_naming(deployment, "Call acknowledged (outcome 'Appointment Booked')")
    check(
        any(f"run_id={run_id}" in f and "task_id=escalate_2" in f for f in said),
        "escalation step 2 stopped because the backup's outcome (Appointment Booked) acknowledged",
        f"files saying so: {said}",
    )


def check_deadline(
    findings: Findings,
    deployment: Deployment,
    calls: list[dict[str, Any]],
    run_id: str,
    run_state: str,
    called: bool,
    on_call: str,
    late_after: float,
) -> None:
    """
    The late run succeeded, its deadline was missed, and the alert's callback ran once on the
    executor (an ``executor`` callback, no trigger) and placed exactly one call; the triggerer's
    logs do not name that call, nor a refused ``async_notify``.

    :param findings: Where the results go.
    :param deployment: The deployment.
    :param calls: The simulator's record of every call.
    :param run_id: The deadline DAG's run id.
    :param run_state: Its final state.
    :param called: Whether a ``deadline_missed`` call appeared in time.
    :param on_call: The number the Deadline Alert's notifier calls.
    :param late_after: The deadline: seconds after the run was queued.
    """
    check = findings.check
    dag_id = "oneinbox_notify_deadline"
    check(run_state == "success", "the late run itself succeeded", run_state)
    missed = deployment.sql(
        "SELECT d.missed FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id WHERE r.run_id = :r", r=run_id
    )
    check(missed == [(True,)], "its one deadline is marked missed", f"{missed}")
    callbacks = deployment.sql("SELECT type, state, trigger_id, fetch_method FROM callback")
    print(f"  callback rows (type, state, trigger_id, fetch_method): {callbacks}", flush=True)
    check(
        [(r[0], r[1], r[2]) for r in callbacks] == [("executor", "success", None)],
        "one Deadline Alert callback, run by the executor (no trigger), succeeded",
        f"{callbacks}",
    )
    mine = calls_of(calls, dag_id, on_call)
    check(
        called and len(mine) == 1,
        f"exactly one call to the on-call number {on_call} for the missed deadline",
        f"{len(mine)}",
    )
    if not mine:
        return
    told = mine[0].get("variables") or {}
    check(
        told.get("alert") == "deadline_missed" and told.get("run_id") == run_id and "task_id" not in told,
        "the deadline call says deadline_missed for the late run (no task)",
        f"{told}",
    )
    where = files_naming(deployment, str(mine[0]["id"]))
    print(f"  log files naming the deadline call {mine[0]['id']}: {where}", flush=True)
    placed = placed_at(deployment, [f for f in where if f.startswith(EXECUTOR_CALLBACK_LOGS)], mine[0]["id"])
    times = deployment.sql(
        "SELECT d.deadline_time, r.queued_at, r.end_date FROM deadline d "
        "JOIN dag_run r ON r.id = d.dagrun_id WHERE r.run_id = :r",
        r=run_id,
    )
    in_time = False
    if placed is not None and len(times) == 1:
        deadline, queued, ended = (t.timestamp() for t in times[0])
        print(
            f"  deadline {deadline - queued:.1f} s after the run was queued; the call placed "
            f"{placed - deadline:.1f} s after it, {ended - placed:.1f} s before the run ended",
            flush=True,
        )
        in_time = deadline - queued >= late_after and deadline <= placed < ended
    check(
        in_time,
        f"the call was placed past the deadline ({late_after} s after queued), while the run still ran",
        f"placed at {placed}, deadline/queued/ended {times}",
    )
    check(
        any(f.startswith(EXECUTOR_CALLBACK_LOGS) for f in where) and not any("triggerer" in f for f in where),
        "the deadline call was placed by the executor's callback (its log names it, no triggerer log does)",
        f"{where}",
    )
    refused = files_naming(deployment, "Airflow ran it in the triggerer")
    check(not refused, "no notifier ran in the triggerer (no refused async_notify)", f"{refused}")


def check_no_other_calls(
    findings: Findings, simulator: DeploymentSimulator, calls: list[dict[str, Any]], expected: int
) -> None:
    """
    The simulator holds ``expected`` calls and accepted as many ``POST /v1/calls``.

    :param findings: Where the results go.
    :param simulator: The simulator.
    :param calls: Its record of every call.
    :param expected: How many calls the scenario places.
    """
    posts = Counter(
        r["status"]
        for r in simulator.requests("/v1/calls")
        if r["method"] == "POST" and r["path"] == "/v1/calls"
    )
    by_number = Counter(c["to_number"] for c in calls)
    findings.check(
        len(calls) == expected and sum(posts.values()) == expected,
        f"the simulator holds {expected} calls and saw {expected} POST /v1/calls",
        f"{len(calls)} calls {dict(by_number)}, POST statuses {dict(posts)}",
    )
