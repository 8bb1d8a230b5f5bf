"""
A throwaway PostgreSQL server on a free loopback port, and an Airflow on it for child processes
(the test process's own Airflow stays on the session's SQLite DB).
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers.sockets import free_port
from tests.helpers.triggerers import TriggererProcess, wait_until

#: What the tests of a stalled triggerer run on in production-like setups.
DATABASE = "airflow"
USER = "airflow"


def server_binaries() -> Path | None:
    """
    The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or ``None`` if not installed.

    Debian keeps them in ``/usr/lib/postgresql/<version>/bin`` (the newest wins), off ``PATH``.
    """
    on_path = [shutil.which(name) for name in ("initdb", "pg_ctl", "postgres")]
    if all(on_path):
        return Path(os.path.realpath(str(on_path[0]))).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True):
        if all((Path(candidate) / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return Path(candidate)
    return None


def require_postgres() -> Path:
    """
    The server binaries, once the server and its driver (``psycopg2``) are known to be there.

    Otherwise the test is skipped with the reason, except in CI (``CI=true``), where it fails:
    ``.ci/run`` installs PostgreSQL, so a missing one there is a broken setup, not a choice.
    """
    import pytest

    binaries = server_binaries()
    missing = []
    if binaries is None:
        missing.append("the PostgreSQL server (initdb, pg_ctl, postgres; Debian: apt-get install postgresql)")
    for driver in ("psycopg2", "asyncpg"):
        if importlib.util.find_spec(driver) is None:
            missing.append(f"Airflow's driver {driver} (the provider's `test` extra)")
    if missing:
        reason = f"needs {' and '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI must run these tests")
        pytest.skip(reason)
    assert binaries is not None
    return binaries


def _version(path: str) -> float:
    with contextlib.suppress(ValueError):
        return float(Path(path).parent.name)
    return 0.0


class PostgresServer:
    """
    ``initdb`` + ``pg_ctl start`` into a temporary directory, listening on 127.0.0.1 only.

    PostgreSQL refuses to run as root: as root, the cluster belongs to (and the server runs as)
    the ``postgres`` user if there is one, else ``nobody``. Durability is off (``fsync``,
    ``synchronous_commit``): the data is thrown away with the directory.

    :param binaries: Directory of the server binaries (see :func:`server_binaries`).
    """

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="oneinbox-postgres-"))
        self.root.chmod(0o755)  # the server's user must reach its data directory
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        self._run_as = self._server_user()

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the test database, for ``[database] sql_alchemy_conn``."""
        return f"postgresql+psycopg2://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    @staticmethod
    def _server_user() -> str | None:
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                pwd.getpwnam(name)
                return name
        raise RuntimeError("PostgreSQL cannot run as root and there is no 'postgres' or 'nobody' user")

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.binaries / args[0]), *args[1:]]
        if self._run_as is not None:
            command = ["runuser", "-u", self._run_as, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed ({done.returncode}): {done.stdout}{done.stderr}{self.log()}"
            )

    def start(self) -> None:
        """Create the cluster and the database, start the server and wait until it accepts connections."""
        self.data.mkdir(mode=0o700)
        self.log_path.touch()
        if self._run_as is not None:
            user = pwd.getpwnam(self._run_as)
            os.chown(self.data, user.pw_uid, user.pw_gid)
            os.chown(self.log_path, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='{self.data}' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", options, "-w", "-t", "60", "start"
        )
        self._create_database()

    def _create_database(self) -> None:
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=USER, dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {DATABASE}")
        finally:
            connection.close()

    def stop(self) -> None:
        """Stop the server (fast shutdown; immediate if that hangs) and delete its directory."""
        if (self.data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "20", "stop", timeout=30)
            except (RuntimeError, subprocess.TimeoutExpired):
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        """The end of the server's log."""
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-3000:]
        return ""


@contextlib.contextmanager
def postgres_server(binaries: Path) -> Iterator[PostgresServer]:
    """A started :class:`PostgresServer`, stopped and deleted on exit, even if starting failed."""
    server = PostgresServer(binaries)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@dataclass
class AirflowOnPostgres:
    """
    An Airflow home whose metadata DB is a :class:`PostgresServer`, for child processes
    (``airflow triggerer``, ``dag.test()`` scripts); this process reads the DB with plain SQL.

    :param postgres: The server.
    :param home: ``AIRFLOW_HOME`` of the child processes (their logs land in ``home / "logs"``).
    :param settings: More environment for every child, e.g. ``AIRFLOW__TRIGGERER__...`` options.
    """

    postgres: PostgresServer
    home: Path
    settings: Mapping[str, str] = field(default_factory=dict)
    fernet_key: str = field(init=False)

    def __post_init__(self) -> None:
        from cryptography.fernet import Fernet

        # Every child must share it: the worker encrypts trigger kwargs, the triggerer decrypts them.
        self.fernet_key = Fernet.generate_key().decode()
        self.dags.mkdir(parents=True, exist_ok=True)

    @property
    def dags(self) -> Path:
        """The dags folder of the child processes."""
        return self.home / "dags"

    def env(self) -> dict[str, str]:
        """A child's environment: this process's (connections included), pointed at PostgreSQL."""
        return {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url,
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            **self.settings,
        }

    def migrate(self) -> None:
        """``airflow db migrate``."""
        done = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed: {done.stdout[-3000:]}{done.stderr[-3000:]}")

    def sql(self, query: str, **params: Any) -> list[tuple[Any, ...]]:
        """The rows of a read-only query on the metadata DB."""
        import sqlalchemy

        engine = sqlalchemy.create_engine(self.postgres.url, poolclass=sqlalchemy.pool.NullPool)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(sqlalchemy.text(query), params)]
        finally:
            engine.dispose()

    def states(self, dag_id: str) -> list[str | None]:
        """Every task instance's state, by map index."""
        rows = self.sql("SELECT state FROM task_instance WHERE dag_id = :d ORDER BY map_index", d=dag_id)
        return [row[0] for row in rows]

    def trigger_owners(self, dag_id: str) -> list[int | None]:
        """The triggerer job each deferred task instance's trigger is assigned to, by map index."""
        rows = self.sql(
            "SELECT t.triggerer_id FROM task_instance ti JOIN trigger t ON t.id = ti.trigger_id "
            "WHERE ti.dag_id = :d ORDER BY ti.map_index",
            d=dag_id,
        )
        return [row[0] for row in rows]

    def newest_triggerer_job(self) -> int:
        """The id of the last triggerer job registered (0 if none)."""
        rows = self.sql("SELECT max(id) FROM job WHERE job_type = 'TriggererJob'")
        return int(rows[0][0] or 0)

    def start_triggerer(self, log_path: Path) -> tuple[TriggererProcess, int]:
        """A real ``airflow triggerer`` on this DB, once it has registered its job; and the job's id."""
        before = self.newest_triggerer_job()
        triggerer = TriggererProcess(log_path, env=self.env())
        try:
            job_id = wait_until(
                lambda: (job := self.newest_triggerer_job()) > before and job,
                60,
                f"the triggerer to register ({log_path.name})",
            )
        except BaseException:
            triggerer.close()
            raise
        return triggerer, int(job_id)

    def trigger_logs(self, dag_id: str, job_id: int) -> str:
        """What the triggerer with job ``job_id`` logged for the triggers of ``dag_id``'s tasks."""
        # A triggerer writes a trigger's lines beside its task's log: <attempt log>.trigger.<job id>.log
        folder = self.home / "logs" / f"dag_id={dag_id}"
        files = sorted(folder.rglob(f"*.trigger.{job_id}.log")) if folder.exists() else []
        return "".join(path.read_text(errors="replace") for path in files)


@contextlib.contextmanager
def airflow_on_postgres(home: Path, settings: Mapping[str, str] | None = None) -> Iterator[AirflowOnPostgres]:
    """
    A fresh PostgreSQL server with Airflow's schema (``airflow db migrate``), stopped on exit.

    Skips the test (fails it in CI) without PostgreSQL: see :func:`require_postgres`.

    :param home: ``AIRFLOW_HOME`` of the child processes.
    :param settings: More environment for every child.
    """
    with postgres_server(require_postgres()) as postgres:
        airflow = AirflowOnPostgres(postgres, home, dict(settings or {}))
        airflow.migrate()
        yield airflow
