"""
Real ``airflow triggerer`` processes, and a DAG run whose deferred tasks wait in them.

Two ways to drive the DAG: :func:`run_with_triggerer_processes` runs ``dag.test()`` in the test
process (on the session's SQLite DB); :class:`DagTestProcess` runs it in a child process, for a
metadata DB the test process is not configured for (PostgreSQL). Either way ``dag.test()`` runs
each task itself but leaves its triggers to the triggerer processes, as workers and triggerers
share the work in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """``condition()`` once it is truthy, checked every 50 ms; ``TimeoutError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}")


class TriggererProcess:
    """
    A real ``airflow triggerer`` process (and its log file).

    It runs in a session of its own, so :meth:`stall` can freeze it together with its trigger
    runner child, as a paused VM or a starved container freezes both.

    :param log_path: Where its stdout and stderr go.
    :param env: Its environment; the test process's by default.
    :param capacity: ``--capacity``: how many triggers it runs at most.
    """

    def __init__(self, log_path: Path, env: Mapping[str, str] | None = None, capacity: int = 10) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "triggerer", "--skip-serve-logs", "--capacity", str(capacity)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ if env is None else env),
            start_new_session=True,
        )

    def shut_down(self) -> None:
        """SIGTERM, as a deploy or a restart does: the triggerer cancels its triggers and exits."""
        self.process.send_signal(signal.SIGTERM)

    def stall(self) -> None:
        """SIGSTOP the triggerer and its trigger runner: no heartbeat, no poll, until :meth:`resume`."""
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT what :meth:`stall` froze."""
        os.killpg(self.process.pid, signal.SIGCONT)

    def wait(self) -> int:
        """Its exit code, once it has exited (Airflow gives its trigger runner up to 10 s)."""
        return self.process.wait(timeout=30)

    def close(self) -> None:
        """
        Make sure it is gone: resumed if stalled, SIGTERM, then a second SIGTERM (Airflow's forced
        exit, which also kills its trigger runner process) if it lingers, then SIGKILL; then
        SIGKILL whatever is left of its session; and close its log.
        """
        with contextlib.suppress(ProcessLookupError):
            self.resume()
        for stop in (self.process.terminate, self.process.terminate, self.process.kill):
            if self.process.poll() is not None:
                break
            stop()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=2 if stop is self.process.terminate else 10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # an orphaned trigger runner
        self._log.close()

    def log(self, tail: int = 4000) -> str:
        """The end of its log (everything with ``tail=0``)."""
        text = self.log_path.read_text(errors="replace")
        return text[-tail:] if tail else text


def run_with_triggerer_processes(
    dag: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    script: Callable[[Callable[[], TriggererProcess]], None],
    timeout: float = 180,
) -> Any:
    """
    ``dag.test()`` in this process, its triggers left to real ``airflow triggerer`` processes
    that ``script`` starts (with the function it is given) and stops, from another thread.

    Every triggerer is closed at the end. If ``script`` fails, the DAG's tasks are failed so that
    ``dag.test()`` returns, and the failure is raised with the triggerers' logs.
    """
    import airflow.sdk.definitions.dag as sdk_dag

    run_task = sdk_dag._run_task

    def run_task_leaving_triggers_to_the_triggerer(*, ti: Any, task: Any, run_triggerer: bool = False) -> Any:
        return run_task(ti=ti, task=task, run_triggerer=False)

    monkeypatch.setattr(sdk_dag, "_run_task", run_task_leaving_triggers_to_the_triggerer)
    triggerers: list[TriggererProcess] = []
    failure: list[BaseException] = []

    def start_triggerer() -> TriggererProcess:
        triggerers.append(TriggererProcess(tmp_path / f"triggerer-{len(triggerers) + 1}.log"))
        return triggerers[-1]

    def orchestrate() -> None:
        try:
            script(start_triggerer)
        except BaseException as exc:
            failure.append(exc)
            fail_the_task(dag.dag_id)  # so dag.test() returns
        finally:
            for triggerer in triggerers:
                triggerer.close()

    orchestrator = threading.Thread(target=orchestrate)
    orchestrator.start()
    try:
        dag_run = dag.test()
    finally:
        orchestrator.join(timeout=timeout)
    if failure:
        logs = "".join(triggerer.log() for triggerer in triggerers)
        raise AssertionError(f"{failure[0]!r}\n{logs}") from failure[0]
    return dag_run


def fail_the_task(dag_id: str) -> None:
    """Fail every task instance of ``dag_id`` in the test process's metadata DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import update

    with create_session() as session:
        session.execute(
            update(TaskInstance).where(TaskInstance.dag_id == dag_id).values(state=TaskInstanceState.FAILED)
        )


#: The child process of :class:`DagTestProcess`: ``dag.test()`` with the triggers left to the
#: triggerers, then one JSON line with every task instance's state, try and result.
_DAG_TEST = """
import importlib.util, json, sys

import airflow.sdk.definitions.dag as sdk_dag

run_task = sdk_dag._run_task


def run_task_leaving_triggers_to_the_triggerer(*, ti, task, run_triggerer=False):
    return run_task(ti=ti, task=task, run_triggerer=False)


sdk_dag._run_task = run_task_leaving_triggers_to_the_triggerer
spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
dag_run = module.dag.test()
instances = []
for ti in sorted(dag_run.get_task_instances(), key=lambda ti: (ti.task_id, ti.map_index)):
    result = ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index) if ti.state == "success" else None
    instances.append(
        {"task_id": ti.task_id, "map_index": ti.map_index, "state": ti.state, "try_number": ti.try_number,
         "result": result}
    )
print("DAG_TEST_RESULT " + json.dumps({"run_id": dag_run.run_id, "state": dag_run.state,
                                       "instances": instances}, default=str))
"""


class DagTestProcess:
    """
    ``dag.test()`` of the DAG in ``dag_file``, in a child process with its own environment.

    :param dag_file: A file defining one DAG as the module-level name ``dag``, in the dags folder
        of ``env``.
    :param env: The child's environment (e.g. a PostgreSQL ``sql_alchemy_conn``).
    :param log_path: Where its stdout and stderr go.
    """

    def __init__(self, dag_file: Path, env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _DAG_TEST, str(dag_file)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )

    def result(self, timeout: float) -> dict[str, Any]:
        """Wait for ``dag.test()`` to return; its DAG run's state and every task instance."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"dag.test() still running after {timeout:.0f}s:\n{self.log()}") from None
        for line in self.log(tail=0).splitlines():
            if line.startswith("DAG_TEST_RESULT "):
                return dict(json.loads(line.removeprefix("DAG_TEST_RESULT ")))
        raise AssertionError(f"dag.test() exited {self.process.returncode} without a result:\n{self.log()}")

    def close(self) -> None:
        """Kill it (and anything it started) if it is still running; close its log."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self._log.close()

    def log(self, tail: int = 6000) -> str:
        """The end of its output (everything with ``tail=0``)."""
        text = self.log_path.read_text(errors="replace")
        return text[-tail:] if tail else text


# -- a trigger as the triggerer runs it: with a task instance whose state Airflow can report -------

#: The task instance a trigger serves in :func:`in_a_triggerer` (a mapped one: map index 3).
FAKE_TASK_INSTANCE = SimpleNamespace(
    id="01a23ae5-a786-7837-b5b0-051bf0b69638",
    dag_id="campaign",
    run_id="manual__1",
    task_id="call",
    map_index=3,
    try_number=1,
    context_carrier=None,
)

Answer = Callable[[Any], Awaitable[Any]]


class FakeSupervisorComms:
    """
    Stands in for the triggerer's ``SUPERVISOR_COMMS``: answers ``GetTaskStates`` with
    ``answer(request)``, and anything else (e.g. the ``MaskSecret`` of a connection's key) with
    nothing; a ``GetXCom`` with the value ``xcoms`` holds for its key (``None`` if absent).
    ``requests`` keeps the ``GetTaskStates`` requests, ``xcom_requests`` the ``GetXCom`` ones.
    """

    def __init__(self, answer: Answer, xcoms: Mapping[str, Any] | None = None) -> None:
        self.answer = answer
        self.xcoms = dict(xcoms or {})
        self.requests: list[Any] = []
        self.xcom_requests: list[Any] = []

    async def asend(self, msg: Any) -> Any:
        if type(msg).__name__ == "GetXCom":
            self.xcom_requests.append(msg)
            return SimpleNamespace(key=msg.key, value=self.xcoms.get(msg.key))
        if type(msg).__name__ != "GetTaskStates":
            return None
        self.requests.append(msg)
        return await self.answer(msg)


def answering(task_states: Any) -> Answer:
    """An answer carrying ``task_states`` (``{run_id: {task key: state}}`` when well formed)."""

    async def answer(msg: Any) -> Any:
        return SimpleNamespace(task_states=task_states)

    return answer


def task_state_is(state: str | None) -> Answer:
    """The answer Airflow gives when :data:`FAKE_TASK_INSTANCE` is in ``state``."""
    ti = FAKE_TASK_INSTANCE
    return answering({ti.run_id: {f"{ti.task_id}_{ti.map_index}": state}})


async def never_answering(msg: Any) -> Any:
    """A supervisor that never answers."""
    await asyncio.sleep(3600)


async def failing(msg: Any) -> Any:
    """A supervisor whose connection is gone."""
    raise ConnectionResetError("supervisor gone")


def in_a_triggerer(
    monkeypatch: pytest.MonkeyPatch, trigger: Any, answer: Answer, xcoms: Mapping[str, Any] | None = None
) -> FakeSupervisorComms:
    """
    Give ``trigger`` what the triggerer gives it: :data:`FAKE_TASK_INSTANCE`, and Task SDK comms
    that report that task instance's state as ``answer`` says (e.g. ``task_state_is("failed")``
    for a task a user marked failed, ``task_state_is("deferred")`` for a handover), and the
    task instance's XComs as ``xcoms`` says (e.g. the worker's "failed by itself" marker).
    """
    from airflow.sdk.execution_time import task_runner

    trigger.task_instance = FAKE_TASK_INSTANCE
    comms = FakeSupervisorComms(answer, xcoms)
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    return comms
