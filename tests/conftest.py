"""Shared fixtures: a throwaway Airflow home and the bundled OneInbox simulator on a loopback port."""

from __future__ import annotations

import asyncio
import atexit
import base64
import functools
import importlib.util
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Airflow reads its configuration at import time: point it at a throwaway home first. Each
# pytest-xdist worker imports this module itself: a home, metadata DB and dags folder per worker.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="oneinbox-airflow-home-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
DAGS_FOLDER = Path(_AIRFLOW_HOME) / "dags"
DAGS_FOLDER.mkdir()
EXAMPLE_DAGS = Path(__file__).resolve().parent.parent / "example_dags"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
# One Fernet key for this process and every Airflow process a test starts (triggerers, workers),
# as a deployment has: without it each process generates its own, and a triggerer cannot read the
# trigger kwargs this process encrypted once anything in it reloads the configuration. (pytest-xdist
# workers inherit the key their controller set here.)
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from airflow_provider_oneinbox.simulator import OneInboxSimulator

#: The key every test uses; tests of secret hygiene search logs and errors for it.
TEST_API_KEY = "oi_sk_test_5f3c9a1e7b2d4c6e8f0a"
CONN_ID = "oneinbox_default"


def connection_json(base_url: str, api_key: str = TEST_API_KEY, **extra: object) -> str:
    """A OneInbox connection in Airflow's JSON form, with fast retries for tests."""
    extras: dict[str, object] = {
        "max_retries": 3,
        "retry_wait_max": 0.5,
        "retry_wait_min": 0.05,
        "timeout": 10,
    }
    extras.update(extra)
    return json.dumps({"conn_type": "oneinbox", "host": base_url, "password": api_key, "extra": extras})


def use_simulator(sim: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> None:
    """
    Point ``oneinbox_default`` at ``sim`` for this test, with ``extra`` connection settings.

    :param sim: The simulator.
    :param monkeypatch: The test's ``monkeypatch``.
    :param extra: Connection extras over :func:`connection_json`'s test defaults.
    """
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sim.base_url, **extra))


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[OneInboxSimulator]:
    """One simulator for the whole session, fast clock: 20 simulated seconds per real second."""
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

    with OneInboxSimulator(api_key=TEST_API_KEY, speed=20.0, analysis_delay=3.0) as server:
        yield server


@pytest.fixture
def sim(simulator_server: OneInboxSimulator, monkeypatch: pytest.MonkeyPatch) -> OneInboxSimulator:
    """The session simulator, emptied and fault-free, with ``oneinbox_default`` pointing at it."""
    simulator_server.reset()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(simulator_server.base_url))
    return simulator_server


@pytest.fixture(scope="module")
def tls_sim() -> Iterator[OneInboxSimulator]:
    """A simulator serving HTTPS with a self-signed certificate (trust ``ca_cert_path``)."""
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

    with OneInboxSimulator(api_key=TEST_API_KEY, tls=True) as server:
        yield server


@pytest.fixture
def frozen(sim: OneInboxSimulator) -> OneInboxSimulator:
    """The simulator with its clock (nearly) stopped: only advance() moves it."""
    from tests.helpers.simulator_api import FROZEN

    sim.configure(speed=FROZEN)
    return sim


@pytest.fixture
def task_runs(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every task try ``dag.test()`` runs in this test (``tests.helpers.dags.record_task_runs``)."""
    from tests.helpers.dags import record_task_runs

    return record_task_runs(monkeypatch)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh SQLite metadata DB in the throwaway Airflow home, created once per session."""
    from airflow.utils import db

    db.initdb()


@pytest.fixture(scope="session", autouse=True)
def one_in_process_execution_api() -> Iterator[None]:
    """
    Build ``dag.test()``'s in-process Execution API once, not once per task run.

    Airflow 3.3 caches it (``functools.lru_cache`` on ``in_process_api_server``); 3.1 rebuilds its
    FastAPI app for every task run and every resume from deferral, about a second each. Same
    behaviour, backported, so the suite runs in comparable time on both.
    """
    if importlib.util.find_spec("airflow") is None:  # scripts/test-simulator-newest: no Airflow there
        yield
        return
    from airflow.sdk.execution_time import supervisor

    original = supervisor.in_process_api_server
    with pytest.MonkeyPatch.context() as patch:
        if not hasattr(original, "cache_info"):
            patch.setattr(supervisor, "in_process_api_server", functools.lru_cache(maxsize=1)(original))
        yield


@pytest.fixture
def load_dag(airflow_db: None) -> Callable[..., DAG]:
    """
    Put a DAG file into the dags folder and import it, so ``dag.test()`` can run it.

    Call it with an example DAG's file name (``"oneinbox_outbound_call.py"``) or with DAG source text.
    ``dag.test()`` only runs DAGs it finds in the dags folder, which is why files are copied there.
    """

    def _load(source: str, dag_id: str | None = None) -> DAG:
        if source.endswith(".py") and "\n" not in source:
            target = DAGS_FOLDER / source
            shutil.copy(EXAMPLE_DAGS / source, target)
        else:
            target = DAGS_FOLDER / f"test_dag_{uuid.uuid4().hex[:12]}.py"
            target.write_text(source)
        spec = importlib.util.spec_from_file_location(f"oneinbox_dag_{uuid.uuid4().hex[:8]}", target)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dags = [obj for obj in vars(module).values() if type(obj).__name__ == "DAG"]
        if dag_id is not None:
            dags = [dag for dag in dags if dag.dag_id == dag_id]
        assert len(dags) == 1, f"expected one DAG in {target}, found {[d.dag_id for d in dags]}"
        return dags[0]

    return _load


def task_xcoms(dag_run: Any, task_id: str, key: str = "return_value") -> list[Any]:
    """The XCom values every instance (each map index) of ``task_id`` left under ``key``."""
    tis = sorted(
        (ti for ti in dag_run.get_task_instances() if ti.task_id == task_id), key=lambda ti: ti.map_index
    )
    return [ti.xcom_pull(task_ids=task_id, key=key, map_indexes=ti.map_index) for ti in tis]


async def eventually(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """``condition()`` once it is truthy, checked every 50 ms on the running loop; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)
    return value


@pytest.fixture
def asset_watchers_forgotten(airflow_db: None) -> Iterator[None]:
    """For a test that registers asset watchers: they are deleted from the metadata DB when it ends."""
    from tests.helpers.asset_events import forget_asset_watchers

    yield
    forget_asset_watchers()


#: Test modules that run real Airflow processes (triggerers, ``dag.test()`` children, PostgreSQL).
#: On pytest-xdist workers (scripts/test: ``--dist loadgroup``) they run one after another on one
#: worker: two of them side by side would compete for the CPU that their timed checks (heartbeats, a
#: 4 s health check, 10 s state reads) depend on, and a module's own PostgreSQL starts once.
REAL_PROCESS_MODULES = frozenset(
    {
        "test_triggerer_stall.py",
        "test_shared_poller_triggerer.py",
        "test_campaign_trigger_triggerer.py",
        "test_durability.py",
    }
)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, absent where it is not installed
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """
    ``--dist loadgroup``, with the tests of :data:`REAL_PROCESS_MODULES` as one more group.

    Grouped by module name here: pytest-xdist 3.8 groups ``xdist_group`` marks by rewriting
    ``item._nodeid``, which pytest 9.2 no longer reads (those marks are silently ignored).
    The biggest groups are handed out first, so this one starts at once.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class Scheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.split("::", 1)[0].rsplit("/", 1)[-1] in REAL_PROCESS_MODULES:
                return "real_airflow_processes"
            return str(super()._split_scope(nodeid))

    return Scheduling(config, log)
