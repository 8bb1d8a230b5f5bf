"""
A real Airflow deployment on a throwaway PostgreSQL: LocalExecutor, ``airflow scheduler``,
``airflow dag-processor``, ``airflow api-server`` and two ``airflow triggerer`` processes, each a
process of its own with its own log file, as a supervisor (systemd, a container runtime) runs them.

Used by ``scripts/deployment-test`` (``tests/deployment_run.py``) and by
``benchmarks/campaign_deployment.py``. :class:`Deployment` starts everything, triggers DAG runs,
waits for them, kills and restarts named processes (SIGKILL, as a crash or the OOM killer does),
finds and kills a task instance's task process, collects every log file, and always stops
everything it started (every process group, so orphans of a killed process go too).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.helpers.deployment_processes import ManagedProcess
from tests.helpers.postgres import AirflowOnPostgres, PostgresServer, server_binaries
from tests.helpers.sockets import free_port
from tests.helpers.triggerers import wait_until

#: The deployment DAGs, one file per DAG.
DAGS_FOLDER = Path(__file__).resolve().parents[1] / "deployment_dags"
#: The provider's example DAGs, deployed as they are when a scenario names them (``examples``).
EXAMPLES_FOLDER = Path(__file__).resolve().parents[2] / "example_dags"
#: Terminal states of a DAG run.
FINAL_RUN_STATES = ("success", "failed")


def deployment_env(
    airflow: AirflowOnPostgres, api_port: int, connection: Mapping[str, Any], settings: Mapping[str, str]
) -> dict[str, str]:
    """
    Every component's environment: LocalExecutor on PostgreSQL, the deployment DAGs, no examples,
    the api-server on ``api_port`` (execution API and JWT secret set, everyone admin), short health
    thresholds so a killed component is noticed in seconds, and the OneInbox connection.

    :param airflow: The Airflow home on PostgreSQL.
    :param api_port: The api-server's port.
    :param connection: ``oneinbox_default`` in Airflow's JSON connection form.
    :param settings: More environment, over these defaults.
    """
    base_url = f"http://127.0.0.1:{api_port}"
    env = airflow.env()
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # 2 cores: a few task processes at once; deferred tasks hold no executor slot.
            "AIRFLOW__CORE__PARALLELISM": "6",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "16",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "15",
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "15",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_ONEINBOX_DEFAULT": json.dumps(dict(connection)),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")) if p
            ),
        }
    )
    env.update(settings)
    return env


class Deployment:
    """
    The whole deployment. Use as a context manager: everything is stopped on exit, also on failure.

    :param connection: ``oneinbox_default`` (JSON form), e.g. pointing at a simulator.
    :param settings: More environment for every component (e.g. the DAGs' defaults).
    :param triggerers: How many ``airflow triggerer`` processes.
    :param triggerer_capacity: Each triggerer's ``--capacity``.
    :param root: Where the home and logs go (a new temporary directory by default, kept if given).
    :param dags: The DAG ids (file stems) to deploy; default every DAG file of the folder except
        the ``deploy_inbound_*`` ones, whose asset watchers start polling as soon as they are
        parsed: a scenario asks for them by name.
    :param examples: Example DAG files (stems of ``example_dags/*.py``, each named after its DAG)
        deployed unchanged beside them, configured through ``settings`` as a user would.
    """

    def __init__(
        self,
        connection: Mapping[str, Any],
        settings: Mapping[str, str] | None = None,
        triggerers: int = 2,
        triggerer_capacity: int = 1000,
        root: Path | None = None,
        dags: Sequence[str] | None = None,
        examples: Sequence[str] = (),
    ) -> None:
        self.connection, self.settings = dict(connection), dict(settings or {})
        every = sorted(path.stem for path in DAGS_FOLDER.glob("*.py") if not path.name.startswith("_"))
        self._dag_ids = (
            list(dags) if dags is not None else [d for d in every if not d.startswith("deploy_inbound_")]
        )
        unknown = sorted(set(self._dag_ids) - set(every))
        if unknown:
            raise ValueError(f"dags: no file {unknown} in {DAGS_FOLDER}; choose among {every}")
        self._examples = list(examples)
        unknown = sorted(e for e in self._examples if not (EXAMPLES_FOLDER / f"{e}.py").is_file())
        if unknown:
            raise ValueError(f"examples: no file {unknown} in {EXAMPLES_FOLDER}")
        self.triggerer_count, self.triggerer_capacity = triggerers, triggerer_capacity
        self._own_root = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix="oneinbox-deployment-"))
        self.home = self.root / "airflow-home"
        self.log_dir = self.root / "process-logs"
        self.postgres: PostgresServer | None = None
        self.airflow: AirflowOnPostgres | None = None
        self.processes: dict[str, ManagedProcess] = {}
        self.api_port = 0
        self.env: dict[str, str] = {}
        #: CPU seconds of the one-shot commands (``db migrate``, ``dags unpause``/``trigger``).
        self.cli_cpu_seconds = 0.0

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> Deployment:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 240) -> None:
        """PostgreSQL, ``airflow db migrate``, then every component; returns once the DAGs are parsed."""
        binaries = server_binaries()
        if binaries is None:
            raise RuntimeError(
                "PostgreSQL's server binaries are missing (Debian: apt-get install postgresql)"
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        self.postgres = PostgresServer(binaries)
        self.postgres.start()
        self.airflow = AirflowOnPostgres(self.postgres, self.home)
        shutil.rmtree(self.airflow.dags)
        self.airflow.dags.mkdir(parents=True)
        for dag_id in self._dag_ids:
            shutil.copy2(DAGS_FOLDER / f"{dag_id}.py", self.airflow.dags / f"{dag_id}.py")
        for dag_id in self._examples:
            shutil.copy2(EXAMPLES_FOLDER / f"{dag_id}.py", self.airflow.dags / f"{dag_id}.py")
        self.api_port = free_port()
        settings = {**self.executor_settings(), **self.settings}
        self.env = deployment_env(self.airflow, self.api_port, self.connection, settings)
        self.airflow.settings = {k: v for k, v in self.env.items() if k.startswith(("AIRFLOW", "PYTHONPATH"))}
        with self._counting_cli_cpu():
            self.airflow.migrate()
        for name, command in self.components().items():
            self.processes[name] = ManagedProcess(name, command, self.env, self.log_dir)
            self.start_component(name)
        wait_until(self._api_ready, timeout, "the api-server to answer")
        self.wait_for_dags(timeout)

    def executor_settings(self) -> dict[str, str]:
        """The executor's environment, once PostgreSQL runs (``settings`` override it); none here."""
        return {}

    def components(self) -> dict[str, list[str]]:
        """Each long-running component's name and ``airflow`` arguments, in starting order."""
        components = {
            "api-server": ["api-server", "--port", str(self.api_port), "--host", "127.0.0.1"],
            "dag-processor": ["dag-processor"],
            "scheduler": ["scheduler", "--skip-serve-logs"],
        }
        for number in range(1, self.triggerer_count + 1):
            components[f"triggerer-{number}"] = [
                "triggerer", "--skip-serve-logs", "--capacity", str(self.triggerer_capacity),
            ]  # fmt: skip
        return components

    def start_component(self, name: str) -> None:
        """Start (or restart) the component ``name``."""
        self.processes[name].start()

    def stop(self) -> None:
        """Stop every component (and every orphan of a killed one), then PostgreSQL."""
        for process in self.processes.values():
            process.terminate()  # all at once: they stop in parallel
        for process in self.processes.values():
            with contextlib.suppress(Exception):
                process.stop()
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        if self._own_root and os.environ.get("ONEINBOX_KEEP_DEPLOYMENT") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    def _api_ready(self) -> bool:
        import httpx

        self._check_alive()
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health", timeout=2).is_success
        return False

    def _check_alive(self, expected: tuple[str, ...] = ()) -> None:
        for name, process in self.processes.items():
            if name not in expected and not process.alive():
                raise RuntimeError(
                    f"{name} exited ({process.process and process.process.returncode}):\n{process.log()}"
                )

    # -- DAGs and runs ----------------------------------------------------------------------------
    def dag_ids(self) -> list[str]:
        """The DAG ids deployed (one DAG per file, named as the file)."""
        return [*self._dag_ids, *self._examples]

    def wait_for_dags(self, timeout: float = 180) -> None:
        """Wait until every deployment DAG is serialized, then unpause each one."""

        def parsed() -> bool:
            self._check_alive()
            rows = self.sql("SELECT dag_id FROM serialized_dag")
            return set(self.dag_ids()) <= {row[0] for row in rows}

        wait_until(parsed, timeout, f"the DAGs {self.dag_ids()} to be parsed")
        for dag_id in self.dag_ids():
            self.airflow_cli("dags", "unpause", dag_id)

    def airflow_cli(self, *args: str, timeout: float = 120) -> str:
        """Run ``airflow <args>`` with the deployment's environment; its output (raises on failure)."""
        with self._counting_cli_cpu():
            done = subprocess.run(
                [sys.executable, "-m", "airflow", *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        if done.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args[:2])} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        return done.stdout

    @contextlib.contextmanager
    def _counting_cli_cpu(self) -> Iterator[None]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            yield
        finally:
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            self.cli_cpu_seconds += used

    def trigger(self, dag_id: str, conf: Mapping[str, Any], run_id: str | None = None) -> str:
        """Trigger a run of ``dag_id`` with ``conf`` (``airflow dags trigger``); its run id."""
        run_id = run_id or f"deploy__{dag_id}__{secrets.token_hex(4)}"
        self.airflow_cli("dags", "trigger", dag_id, "--run-id", run_id, "--conf", json.dumps(dict(conf)))
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        """The run's state now."""
        rows = self.sql("SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r", d=dag_id, r=run_id)
        return rows[0][0] if rows else None

    def wait_for_run(
        self, dag_id: str, run_id: str, timeout: float, expected_down: tuple[str, ...] = ()
    ) -> str:
        """The run's final state, once it has one; ``TimeoutError`` after ``timeout``."""

        def final() -> str | None:
            self._check_alive(expected_down)
            state = self.run_state(dag_id, run_id)
            return state if state in FINAL_RUN_STATES else None

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = final()
            if state:
                return state
            time.sleep(1)
        raise TimeoutError(
            f"{dag_id} {run_id} not finished after {timeout:.0f}s: {self.task_states(dag_id, run_id)}"
        )

    def task_states(self, dag_id: str, run_id: str) -> list[tuple[str, int, str | None, int]]:
        """``(task_id, map_index, state, try_number)`` of every task instance of the run."""
        rows = self.sql(
            "SELECT task_id, map_index, state, try_number FROM task_instance "
            "WHERE dag_id = :d AND run_id = :r ORDER BY task_id, map_index",
            d=dag_id,
            r=run_id,
        )
        return [(str(r[0]), int(r[1]), r[2], int(r[3])) for r in rows]

    def sql(self, query: str, **params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query on the metadata DB."""
        assert self.airflow is not None
        return self.airflow.sql(query, **params)

    # -- kills ------------------------------------------------------------------------------------
    def kill(self, name: str) -> None:
        """SIGKILL the component ``name`` (its main process only)."""
        self.processes[name].kill()

    def terminate(self, name: str, timeout: float = 60) -> float:
        """SIGTERM the component ``name``, as its supervisor's stop does; seconds until it exited."""
        return self.processes[name].terminate_and_wait(timeout)

    def restart(self, name: str) -> None:
        """Start ``name`` again, as its supervisor would after it died."""
        self.start_component(name)

    def task_pid(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> int | None:
        """The pid of the task process running that task instance now, if it is running here."""
        rows = self.sql(
            "SELECT pid, state FROM task_instance WHERE dag_id = :d AND run_id = :r AND task_id = :t "
            "AND map_index = :m",
            d=dag_id,
            r=run_id,
            t=task_id,
            m=map_index,
        )
        if not rows or rows[0][1] != "running" or not rows[0][0]:
            return None
        pid = int(rows[0][0])
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return pid if b"airflow" in cmdline or b"python" in cmdline else None

    def kill_task(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> int | None:
        """SIGKILL the process running that task instance (the worker's task process); its pid."""
        pid = self.task_pid(dag_id, run_id, task_id, map_index)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pid

    # -- logs -------------------------------------------------------------------------------------
    def log_files(self) -> Iterator[Path]:
        """Every log file: the components', the tasks' and triggers', PostgreSQL's."""
        for folder in (self.log_dir, self.home / "logs"):
            if folder.exists():
                yield from (path for path in folder.rglob("*") if path.is_file())
        if self.postgres is not None and self.postgres.log_path.exists():
            yield self.postgres.log_path

    def collect_logs(self, into: Path) -> Path:
        """Copy every log file under ``into`` (kept after :meth:`stop`); ``into``."""
        into.mkdir(parents=True, exist_ok=True)
        for path in self.log_files():
            relative = path.relative_to(self.root) if path.is_relative_to(self.root) else Path(path.name)
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.copy2(path, target)
        return into
