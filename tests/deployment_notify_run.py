"""
``scripts/deployment-test`` (notify scenario): the call notifier's example DAGs under a real
scheduler, LocalExecutor, dag-processor, api-server and triggerer, checked against the simulator's
own record of the calls.

One deployment (PostgreSQL) runs three example DAG files as they ship, configured by environment
as a user would: ``oneinbox_notify_on_failure`` (its failing task's ``on_failure_callback`` is a
``OneInboxCallNotifier`` with an escalation number), ``oneinbox_notify_escalation`` (the DAG the
notifier starts) and ``oneinbox_notify_deadline`` (a Deadline Alert whose ``SyncCallback`` builds
the notifier). Both runs are triggered at once:

1. Escalation: the on-call number (``...02``) does not answer ("Not Connected", not an
   acknowledging outcome); the escalation run calls the backup (``...01``), whose outcome
   ("Appointment Booked") acknowledges, and ends there.
2. Deadline: the run takes longer than its deadline; the scheduler hands the alert's callback to
   the executor, whose worker places the one call (``alert == "deadline_missed"``).

Airflow 3.3+ only (3.1 runs Deadline Alert callbacks only in the triggerer, where the notifier
refuses to place calls). Exit status 1 on any failure.

``python -m tests.deployment_notify_run [--keep-logs DIR]``
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

from tests.deployment_run import poll
from tests.helpers.deployment import Deployment
from tests.helpers.deployment_checks import (
    DeploymentSimulator,
    Findings,
    interrupted,
    ran_to_the_end,
    report,
    wind_down,
)
from tests.helpers.deployment_notify import (
    ESCALATION_DAG,
    check_deadline,
    check_escalation,
    check_no_other_calls,
)

FAILING_DAG, DEADLINE_DAG = "oneinbox_notify_on_failure", "oneinbox_notify_deadline"
ON_CALL = "+14155550102"  # not answered: "Not Connected"
BACKUP = "+14155550101"  # answered: "Appointment Booked"
#: Simulated seconds per real second: the backup's 32 s call takes about 6 s.
SPEED = 5.0
#: The deadline (seconds after the run is queued) and how long the run takes: well past it.
LATE_AFTER, REPORT_SECONDS = 5, 25
SETTINGS = {
    "ONEINBOX_ON_CALL_NUMBER": ON_CALL,
    "ONEINBOX_ESCALATION_NUMBERS": BACKUP,
    "ONEINBOX_ACK_OUTCOMES": "Appointment Booked",
    "ONEINBOX_ANSWER_TIMEOUT": "120",
    "ONEINBOX_POLL_INTERVAL": "2",
    "ONEINBOX_LATE_AFTER": str(LATE_AFTER),
    "ONEINBOX_REPORT_SECONDS": str(REPORT_SECONDS),
}


def main(argv: list[str] | None = None) -> int:
    """Run the notify scenario; 0 if every check passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep-logs", type=Path, help="copy every log file here (also on success)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, interrupted)
    import airflow
    from packaging.version import Version

    findings = Findings()
    if Version(airflow.__version__).release < (3, 3):
        findings.check(False, "the notify scenario runs on Airflow 3.3+", f"this is {airflow.__version__}")
        return 1
    started = time.monotonic()
    api_key = "oi_sk_deploytest_" + secrets.token_hex(12)
    work = Path(tempfile.mkdtemp(prefix="oneinbox-deployment-notify-"))
    simulator = DeploymentSimulator(api_key, speed=SPEED, analysis_delay=3.0, log_path=work / "simulator.log")
    deployment: Deployment | None = None
    figures: dict[str, Any] = {}
    try:
        simulator.start()
        print(f"== airflow {airflow.__version__}; simulator at {simulator.base_url} (speed {SPEED})")
        deployment = Deployment(
            simulator.connection(max_retries=4, retry_wait_min=0.2, retry_wait_max=2, timeout=10),
            settings=SETTINGS,
            triggerers=1,
            root=work / "deployment",
            dags=[],
            examples=[FAILING_DAG, ESCALATION_DAG, DEADLINE_DAG],
        )
        deployment.start()
        figures["deployment_up_seconds"] = round(time.monotonic() - started)
        print(f"== deployment up after {figures['deployment_up_seconds']} s", flush=True)
        failing_run = deployment.trigger(FAILING_DAG, {})
        deadline_run = deployment.trigger(DEADLINE_DAG, {})
        triggered = time.monotonic()
        state = deployment.wait_for_run(FAILING_DAG, failing_run, timeout=120)
        findings.check(state == "failed", f"{FAILING_DAG}: the run failed", f"state {state}")
        escalation = poll(lambda: _finished_escalation(deployment), 150, 1)
        figures["escalation_done_seconds"] = round(time.monotonic() - triggered)
        deadline_state = deployment.wait_for_run(DEADLINE_DAG, deadline_run, timeout=120)
        deadline_call = poll(lambda: _deadline_calls(simulator), 60, 1)
        figures["deadline_call_seconds"] = round(time.monotonic() - triggered)
        print(f"== runs finished {time.monotonic() - triggered:.0f} s after the trigger; checks", flush=True)
        calls = simulator.all_calls()
        check_escalation(findings, deployment, calls, failing_run, escalation, ON_CALL, BACKUP)
        check_deadline(
            findings,
            deployment,
            calls,
            deadline_run,
            deadline_state,
            bool(deadline_call),
            ON_CALL,
            LATE_AFTER,
        )
        check_no_other_calls(findings, simulator, calls, expected=3)
    except Exception as exc:
        ran_to_the_end(findings, "notify deployment test", exc, deployment)
    finally:
        wind_down(findings, deployment, simulator, work, args.keep_logs, api_key)
    figures["total_seconds"] = round(time.monotonic() - started)
    return report(findings, started, figures)


def _finished_escalation(deployment: Deployment) -> tuple[str, str] | None:
    """``(run_id, state)`` of the escalation run once it finished; ``None`` before."""
    rows = deployment.sql("SELECT run_id, state FROM dag_run WHERE dag_id = :d", d=ESCALATION_DAG)
    done = [(str(r[0]), str(r[1])) for r in rows if r[1] in ("success", "failed")]
    return done[0] if done else None


def _deadline_calls(simulator: DeploymentSimulator) -> list[dict[str, Any]]:
    return [c for c in simulator.all_calls() if (c.get("variables") or {}).get("alert") == "deadline_missed"]


if __name__ == "__main__":
    sys.exit(main())
