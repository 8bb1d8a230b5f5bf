"""
``scripts/deployment-test`` (inbound scenario): a real Airflow deployment watches a simulator
number receiving inbound calls, and its triggerer is stopped mid-stream, once gracefully (SIGTERM)
and once abruptly (SIGKILL), each time restarted; then per call: asset events and handlings.

One deployment (LocalExecutor on PostgreSQL, scheduler, dag-processor, api-server, one
triggerer, each a process of its own) runs ``deploy_inbound_calls``: an asset whose
``AssetWatcher`` runs ``OneInboxCallEventTrigger(phone_number=..., direction="inbound",
ready="analysed")``, and a DAG scheduled on it that appends a row per call it handles (an INSERT,
so a duplicate shows), skipping ids it already handled with ``events.consume``. The simulator (a
real server, real-time clock) gives the number an inbound call every few seconds.

Checks: on Airflow 3.3 every analysed inbound call fired and was handled exactly once, and a call
fired again only after a stop that came seconds after its previous event (once more per stop);
on 3.1 (no asset state store: the documented behaviour) no call fired twice
(``start_lookback=0``), each delivered call handled once, and every missed call ended while the
watcher was down. The measured numbers are printed. Exit status 1 on any failure.

``python -m tests.deployment_inbound_run [--keep-logs DIR] [--stream SECONDS]``
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
from tests.helpers.deployment_inbound import Stop, active_runs, check_counts, count, handlings

DAG_ID = ASSET = "deploy_inbound_calls"
#: Ends in 07: rings 2 s, talks 12 s, "Not Interested"; post-call data 3 s after the end.
NUMBER = "+14155550907"
AGENT_ID = "agt_support"
#: Inbound calls per minute on the number (the simulator's clock runs at real time here: the
#: trigger's first-start and downtime rules compare the API's times with the triggerer's clock).
RATE = 24
POLL_INTERVAL = 2.0
#: Most extra inbound calls placed after the stream to flush events stranded by Airflow's
#: consumption window (see :func:`settle`).
MAX_FLUSHES = 3


def main(argv: list[str] | None = None) -> int:
    """Run the inbound scenario; 0 if every check passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep-logs", type=Path, help="copy every log file here (also on success)")
    parser.add_argument("--stream", type=float, default=60.0, help="seconds of inbound traffic")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, interrupted)
    import airflow

    durable = tuple(int(p) for p in airflow.__version__.split(".")[:2]) >= (3, 3)
    started = time.monotonic()
    api_key = "oi_sk_deploytest_" + secrets.token_hex(12)
    findings = Findings()
    work = Path(tempfile.mkdtemp(prefix="oneinbox-deployment-inbound-"))
    db_path = work / "handlings.db"
    simulator = DeploymentSimulator(api_key, speed=1.0, analysis_delay=3.0, log_path=work / "simulator.log")
    deployment: Deployment | None = None
    figures: dict[str, Any] = {}
    try:
        simulator.start()
        _api(simulator, "POST", "/v1/phone-numbers", {"phone_number": NUMBER, "agent_id": AGENT_ID})
        print(f"== airflow {airflow.__version__}; simulator at {simulator.base_url}; {NUMBER} registered")
        deployment = Deployment(
            simulator.connection(max_retries=4, retry_wait_min=0.2, retry_wait_max=2, timeout=10),
            settings={
                "ONEINBOX_DEPLOY_INBOUND_NUMBER": NUMBER,
                "ONEINBOX_DEPLOY_INBOUND_DB": str(db_path),
                "ONEINBOX_DEPLOY_POLL_INTERVAL": str(POLL_INTERVAL),
            },
            triggerers=1,
            root=work / "deployment",
            dags=[DAG_ID],
        )
        deployment.start()
        watching = poll(lambda: _watcher_running(deployment), 120, 0.5)
        findings.check(bool(watching), "the asset watcher's trigger runs in the triggerer", "never assigned")
        time.sleep(2 * POLL_INTERVAL)  # its first poll: the first start's cursor is set
        print(f"== deployment up, watcher running after {time.monotonic() - started:.0f} s", flush=True)
        stops = stream(deployment, simulator, args.stream)
        figures = settle(deployment, simulator, db_path, durable, started)
        counts = count(deployment, simulator, NUMBER, ASSET, DAG_ID, db_path)
        print("== checks", flush=True)
        for stop in stops:
            print(f"  {stop.how}: exited after {stop.exit_seconds:.1f} s, restarted "
                  f"{stop.restarted - stop.signalled:.1f} s after the signal")  # fmt: skip
        figures.update(check_counts(findings, counts, stops, durable))
    except Exception as exc:
        ran_to_the_end(findings, "inbound deployment test", exc, deployment)
    finally:
        wind_down(findings, deployment, simulator, work, args.keep_logs, api_key)
    return report(findings, started, figures)


def _api(simulator: DeploymentSimulator, method: str, path: str, body: dict[str, Any]) -> Any:
    import httpx

    headers = {"Authorization": f"Bearer {simulator.api_key}"}
    with httpx.Client(base_url=simulator.base_url, verify=simulator.ca_cert_path, headers=headers) as client:
        response = client.request(method, path, json=body, timeout=30)
        response.raise_for_status()
        return response.json()


def _configure(simulator: DeploymentSimulator, **options: Any) -> None:
    simulator._admin("POST", "/_sim/configure", json=options)


def _watcher_running(deployment: Deployment) -> bool:
    rows = deployment.sql(
        "SELECT triggerer_id FROM trigger WHERE classpath LIKE '%OneInboxCallEventTrigger%' "
        "AND triggerer_id IS NOT NULL"
    )
    return bool(rows)


def stream(deployment: Deployment, simulator: DeploymentSimulator, seconds: float) -> list[Stop]:
    """Inbound traffic for ``seconds``: SIGTERM + restart at 1/3, SIGKILL + restart at 2/3."""
    _configure(simulator, inbound_calls_per_minute=RATE)
    begun = time.monotonic()
    print(f"== inbound traffic on: {RATE}/min for {seconds:.0f} s", flush=True)
    stops = []
    time.sleep(seconds / 3)
    stop = Stop("SIGTERM", time.time())
    stop.exit_seconds = deployment.terminate("triggerer-1")
    deployment.restart("triggerer-1")
    stop.restarted = time.time()
    stops.append(stop)
    print(f"== SIGTERM triggerer-1 (exited in {stop.exit_seconds:.1f} s), restarted", flush=True)
    time.sleep(max(0.0, begun + 2 * seconds / 3 - time.monotonic()))
    stop = Stop("SIGKILL", time.time())
    deployment.kill("triggerer-1")
    time.sleep(3)
    deployment.restart("triggerer-1")
    stop.restarted = time.time()
    stops.append(stop)
    print("== SIGKILL triggerer-1, restarted 3 s later", flush=True)
    time.sleep(max(0.0, begun + seconds - time.monotonic()))
    _configure(simulator, inbound_calls_per_minute=0)
    print("== inbound traffic off", flush=True)
    return stops


def settle(
    deployment: Deployment, simulator: DeploymentSimulator, db: Path, durable: bool, started: float
) -> dict[str, Any]:
    """
    Wait until the last call is analysed and every delivered call handled; how long that took and
    how many flush calls it needed.

    Airflow (3.1 and 3.3 on PostgreSQL) gives an asset-triggered run the events stored up to the
    moment the DAG's queue entry (``asset_dag_run_queue``) was created, i.e. the first event since
    the last run was created; events stored after that moment and before the run was created wait
    for the **next** event. At the end of the stream nothing comes next, so when delivered calls
    are left unhandled with no run queued or running, one more inbound call is placed (a flush,
    as the next customer's call would), at most :data:`MAX_FLUSHES` times; the figures say how many.
    """
    from airflow_provider_oneinbox.rules.results import post_call_data_ready
    from tests.helpers.deployment_inbound import inbound_calls

    off = time.monotonic()
    poll(lambda: all(map(post_call_data_ready, inbound_calls(simulator, NUMBER).values())), 60, 1)
    last: list[Any] = []
    flushes: list[float] = []

    def quiet() -> bool:
        """Every analysed call handled (3.3), or every delivered one and nothing new for 20 s (3.1)."""
        deployment._check_alive()
        counts = count(deployment, simulator, NUMBER, ASSET, DAG_ID, db)
        state = (sum(len(s) for s in counts.events.values()), sum(handlings(db).values()))
        queued = int(deployment.sql("SELECT count(*) FROM asset_dag_run_queue")[0][0])
        if active_runs(deployment, DAG_ID) or queued:
            last.clear()
            return False
        stranded = [c for c in counts.events if not counts.handlings.get(c)]
        if durable and not stranded and set(counts.analysed()) <= set(counts.handlings):
            return True
        if not last or last[0] != state:
            last[:] = [state, time.monotonic()]
        still = time.monotonic() - last[1]
        if (
            stranded
            and still > 10
            and len(flushes) < MAX_FLUSHES
            and all(map(post_call_data_ready, counts.calls.values()))
        ):
            _flush(simulator)
            flushes.append(time.monotonic())
            last.clear()
            print(
                f"== {len(stranded)} delivered calls wait for a next event: one more inbound call", flush=True
            )
            return False
        return not durable and not stranded and still > 20

    done = poll(quiet, 180, 2)
    print(f"== settled={bool(done)} {time.monotonic() - off:.0f} s after the traffic stopped", flush=True)
    return {
        "settle_seconds": round(time.monotonic() - off),
        "total_seconds": round(time.monotonic() - started),
        "flush_calls": len(flushes),
    }


def _flush(simulator: DeploymentSimulator) -> None:
    """Exactly one more inbound call on the number (60/min from now, switched off after 1.5 s)."""
    _configure(simulator, inbound_calls_per_minute=60)
    time.sleep(1.5)
    _configure(simulator, inbound_calls_per_minute=0)


if __name__ == "__main__":
    sys.exit(main())
