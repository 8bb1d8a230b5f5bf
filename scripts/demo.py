"""
The demo behind ``scripts/demo``: one real Airflow run of ``oneinbox_outbound_call`` against the simulator.

Starts the bundled OneInbox simulator on a free loopback port, points ``oneinbox_default`` at it,
creates a throwaway Airflow home with a SQLite metadata DB, runs ``airflow dags test`` and prints
the transcript and analysis the DAG's sensor pushed to XCom. Nothing is left running afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from airflow_provider_oneinbox.simulator import DEFAULT_API_KEY, OneInboxSimulator

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "oneinbox_outbound_call"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--to-number",
        default="+14155550101",
        help="destination; its last two digits pick "
        "the simulator scenario (01 booked, 02 not connected, 03 voicemail, 04 failed, ...)",
    )
    parser.add_argument("--customer-name", default="Sama")
    parser.add_argument("--speed", type=float, default=10.0, help="simulated seconds per real second")
    parser.add_argument(
        "--keep-home", action="store_true", help="keep the Airflow home (logs, DB) afterwards"
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="oneinbox-demo-"))
    try:
        with OneInboxSimulator(speed=args.speed, analysis_delay=3.0) as sim:
            env = _airflow_env(home, sim.base_url)
            print(f"OneInbox simulator on {sim.base_url}; Airflow home {home}")
            _run(["airflow", "db", "migrate"], env, home / "db-migrate.log")
            conf = json.dumps({"to_number": args.to_number, "customer_name": args.customer_name})
            log_file = home / "dags-test.log"
            print(f"Running `airflow dags test {DAG_ID}` (log: {log_file}) ...")
            code = _run(["airflow", "dags", "test", DAG_ID, "--conf", conf], env, log_file, check=False)
            print(f"Simulator saw {sim.calls_created()} call(s) created.")
        return _report(env, code, log_file)
    finally:
        if not args.keep_home:
            shutil.rmtree(home, ignore_errors=True)


def _airflow_env(home: Path, base_url: str) -> dict[str, str]:
    dags = home / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "example_dags" / f"{DAG_ID}.py", dags)
    connection = {"conn_type": "oneinbox", "host": base_url, "password": DEFAULT_API_KEY}
    carrier = {"conn_type": "generic", "login": "AC_demo_account", "password": "demo-carrier-auth-token"}
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW_CONN_ONEINBOX_DEFAULT": json.dumps(connection),
        "AIRFLOW_CONN_ONEINBOX_CARRIER": json.dumps(carrier),
        "ONEINBOX_POLL_INTERVAL": "1",
    }


def _run(command: list[str], env: dict[str, str], log_file: Path, check: bool = True) -> int:
    with log_file.open("w") as log:
        code = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    if check and code:
        tail = log_file.read_text()[-3000:]
        sys.exit(f"`{' '.join(command)}` failed with exit code {code}; see {log_file}:\n{tail}")
    return code


def _report(env: dict[str, str], code: int, log_file: Path) -> int:
    script = (
        "import json\n"
        "from sqlalchemy import select\n"
        "from airflow.models.xcom import XComModel\n"
        "from airflow.utils.session import create_session\n"
        "with create_session() as session:\n"
        f"    rows = session.execute(select(XComModel.task_id, XComModel.key, XComModel.value)"
        f".where(XComModel.dag_id == {DAG_ID!r})).all()\n"
        "print(json.dumps({f'{t}.{k}': v for t, k, v in rows}, default=str))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False)
    xcoms: dict[str, Any] = {
        key: _decode(value) for key, value in json.loads(out.stdout.strip().splitlines()[-1]).items()
    }
    result = xcoms.get("wait_for_call.return_value")
    if code or not result:
        print(f"The DAG run did not succeed (exit code {code}). Last lines of {log_file}:")
        print("\n".join(log_file.read_text().splitlines()[-40:]))
        return code or 1
    analysis = xcoms.get("wait_for_call.analysis") or {}
    print(f"\nCall {result['call_id']}: {result['status']} after {result['duration_seconds']} s")
    print(f"Link: {xcoms.get('place_call.call_url')}")
    print("\nTranscript:")
    print(xcoms.get("wait_for_call.transcript"))
    print("\nAnalysis:")
    print(json.dumps(analysis, indent=2))
    return 0


def _decode(value: object) -> object:
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return value


if __name__ == "__main__":
    raise SystemExit(main())
