"""
The CeleryExecutor form of :class:`~tests.helpers.deployment.Deployment`: a Redis broker of its own
(:class:`~tests.helpers.deployment_redis.RedisServer`), the PostgreSQL metadata DB as Celery's result
backend, ``airflow celery worker`` processes (each in a session of its own, listening to the
default queue and the OneInbox queue), and triggerers each given their ``--queues`` (Airflow 3.2+,
``[triggerer] queues_enabled``).

Used by ``tests/deployment_celery_run.py`` (``scripts/deployment-test --executor celery``).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.helpers.deployment import Deployment
from tests.helpers.deployment_checks import poll
from tests.helpers.deployment_processes import process_groups, session_pids
from tests.helpers.deployment_redis import RedisServer


class CeleryDeployment(Deployment):
    """
    Everything :class:`Deployment` runs, on the CeleryExecutor; stopped on exit, Redis too.

    :param connection: ``oneinbox_default`` (JSON form).
    :param settings: More environment for every component (over the Celery settings).
    :param root: Where the home and logs go.
    :param queues: The Celery queues every worker listens to (the first is the default queue).
    :param workers: How many ``airflow celery worker`` processes.
    :param worker_concurrency: Each worker's ``--concurrency`` (prefork pool processes).
    :param triggerer_queues: One triggerer per item: the ``--queues`` it runs, or ``None`` for a
        triggerer without ``--queues`` (which then runs only triggers with no queue).
    """

    def __init__(
        self,
        connection: Mapping[str, Any],
        settings: Mapping[str, str] | None = None,
        root: Path | None = None,
        queues: Sequence[str] = ("default",),
        workers: int = 2,
        worker_concurrency: int = 4,
        triggerer_queues: Sequence[str | None] = (None, None),
    ) -> None:
        super().__init__(connection, settings, triggerers=len(triggerer_queues), root=root)
        self.queues, self.worker_count, self.worker_concurrency = list(queues), workers, worker_concurrency
        self.triggerer_queues = list(triggerer_queues)
        self.redis: RedisServer | None = None
        #: Each triggerer's job ids, one per start (``trigger.triggerer_id`` points at them).
        self.triggerer_jobs: dict[str, list[int]] = {}

    def start(self, timeout: float = 240) -> None:
        """Redis, then what :meth:`Deployment.start` starts (PostgreSQL, migrate, components)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.redis = RedisServer(self.log_dir / "redis-server.log").start()
        super().start(timeout)

    def stop(self) -> None:
        """Every component (every process of every worker session), PostgreSQL, then Redis."""
        own_root = self._own_root
        self._own_root = False  # the base class must not delete the root before Redis stopped
        try:
            super().stop()
        finally:
            if self.redis is not None:
                self.redis.stop()
            self._own_root = own_root
            if own_root:
                import shutil

                shutil.rmtree(self.root, ignore_errors=True)

    def executor_settings(self) -> dict[str, str]:
        """CeleryExecutor: Redis broker, psycopg2 result backend on the metadata DB, triggerer queues."""
        assert self.redis is not None
        assert self.postgres is not None
        return {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queues[0],
            "AIRFLOW__CELERY__BROKER_URL": self.redis.url,
            # `db+postgresql://` would pick psycopg 3 (SQLAlchemy 2's default), which is not installed.
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.postgres.url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            # Sending a task to Redis on a loaded 2-core machine can take more than the 1 s default.
            "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",
            "AIRFLOW__TRIGGERER__QUEUES_ENABLED": "True",
        }

    def components(self) -> dict[str, list[str]]:
        """The base components (triggerers with their ``--queues``) and the Celery workers."""
        components = super().components()
        for number, queues in enumerate(self.triggerer_queues, start=1):
            if queues is not None:
                components[f"triggerer-{number}"] += ["--queues", queues]
        for number in range(1, self.worker_count + 1):
            components[f"worker-{number}"] = [
                "celery", "worker", "--queues", ",".join(self.queues),
                "--concurrency", str(self.worker_concurrency),
                "--celery-hostname", f"worker-{number}@%h", "--pid", str(self.root / f"worker-{number}.pid"),
                "--skip-serve-logs", "--without-mingle", "--without-gossip",
            ]  # fmt: skip
        return components

    def start_component(self, name: str) -> None:
        """Start ``name``; a triggerer: wait until its job is registered, and note the job's id."""
        if not name.startswith("triggerer-"):
            super().start_component(name)
            return
        before = self._newest_triggerer_job(check=False)
        super().start_component(name)
        job = poll(lambda: (newest := self._newest_triggerer_job()) > before and newest, 120, 0.5)
        if not job:
            raise TimeoutError(f"{name} registered no triggerer job in 120 s: {self.processes[name].log()}")
        self.triggerer_jobs.setdefault(name, []).append(int(job))

    def _newest_triggerer_job(self, check: bool = True) -> int:
        if check:
            self._check_alive(tuple(name for name, p in self.processes.items() if p.process is None))
        rows = self.sql("SELECT max(id) FROM job WHERE job_type = 'TriggererJob'")
        return int(rows[0][0] or 0)

    def triggerer_of_job(self, job_id: int | None) -> str | None:
        """The triggerer whose start registered ``job_id``."""
        for name, jobs in self.triggerer_jobs.items():
            if job_id in jobs:
                return name
        return None

    def worker_of_pid(self, pid: int) -> str | None:
        """The worker whose current session holds ``pid``."""
        for name, process in self.processes.items():
            if name.startswith("worker-") and process.alive() and pid in session_pids(process.pid):
                return name
        return None

    def kill_worker_session(self, name: str) -> dict[str, Any]:
        """
        SIGKILL every process of worker ``name``'s session at once (the worker, its pool processes,
        their task processes in their own groups); what was killed and that nothing survived.
        """
        process = self.processes[name]
        before = session_pids(process.pid)
        groups = process_groups(before)
        killed = process.kill_session()
        time.sleep(0.5)
        return {
            "pids": len(killed),
            "process_groups": len(groups),
            "survivors": len(session_pids(before[0])) if before else 0,
        }

    def pg_dump(self, path: Path) -> Path:
        """A plain-SQL ``pg_dump`` of the metadata DB into ``path``."""
        assert self.postgres is not None
        command = [
            str(self.postgres.binaries / "pg_dump"), "-h", "127.0.0.1", "-p", str(self.postgres.port),
            "-U", "airflow", "--no-password", "-f", str(path), "airflow",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"pg_dump failed ({done.returncode}): {done.stderr[-2000:]}")
        return path
