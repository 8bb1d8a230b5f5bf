"""
One long-running Airflow component (scheduler, triggerer...) as a supervisor runs it: a process
in a session of its own, its output in a log file per start, SIGKILLed like a crash, restarted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path


class ManagedProcess:
    """
    One long-running Airflow component in a session of its own, its output in ``log_path``.

    :param name: Its name in the deployment (``scheduler``, ``triggerer-1``...).
    :param command: The arguments after ``python -m airflow``.
    :param env: Its environment.
    :param log_dir: Where its log files go (``<name>.log``, then ``<name>.2.log`` after a restart).
    """

    def __init__(self, name: str, command: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name, self.command, self.env, self.log_dir = name, command, dict(env), log_dir
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None
        #: Every process group this component ever had: a SIGKILLed parent leaves its children there.
        self.groups: list[int] = []
        self.log_paths: list[Path] = []

    def start(self) -> None:
        """Start it (again), logging to a new file."""
        self.starts += 1
        suffix = "" if self.starts == 1 else f".{self.starts}"
        log_path = self.log_dir / f"{self.name}{suffix}.log"
        self.log_paths.append(log_path)
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "airflow", *self.command],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        self.groups.append(self.process.pid)

    @property
    def pid(self) -> int:
        """The main process's id."""
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        """Whether the main process runs."""
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the main process only, as a crash does: its children are orphaned, not stopped."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self) -> None:
        """SIGTERM the main process, as a supervisor's stop does."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)

    def terminate_and_wait(self, timeout: float = 60) -> float:
        """SIGTERM the main process and wait until it exited; the seconds that took."""
        assert self.process is not None
        started = time.monotonic()
        self.terminate()
        self.process.wait(timeout=timeout)
        return time.monotonic() - started

    def kill_session(self) -> list[int]:
        """
        SIGKILL every process of the main process's session at once, as a machine or container
        loss does; the pids killed. A process group is not enough: Airflow's supervisor puts each
        task process in a group of its own (same session), so ``killpg`` would leave tasks running.
        """
        assert self.process is not None
        pids = session_pids(self.process.pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        return pids

    def stop(self, grace: float = 20) -> None:
        """
        SIGTERM the main process, SIGKILL it after ``grace``; then SIGKILL every process left in
        any session it ever had (its groups and its task processes' own groups).
        """
        if self.process is not None and self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                self.process.wait(timeout=30)
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
            for pid in session_pids(group):  # started with a new session: its id is the first pid
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def log(self, tail: int = 3000) -> str:
        """The end of its newest log."""
        if not self.log_paths:
            return ""
        return self.log_paths[-1].read_text(errors="replace")[-tail:]


def session_pids(session: int) -> list[int]:
    """
    Every live process whose session id is ``session`` (from ``/proc``), leader first.

    :param session: The session id (a process started with ``start_new_session`` leads its own).
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            if os.getsid(int(entry.name)) == session and not _zombie(entry):
                found.append(int(entry.name))
    return sorted(found, key=lambda pid: (pid != session, pid))


def process_groups(pids: list[int]) -> set[int]:
    """The process groups of ``pids`` (those still alive)."""
    groups = set()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            groups.add(os.getpgid(pid))
    return groups


def _zombie(proc: Path) -> bool:
    # /proc/<pid>/stat: "pid (comm) state ..."; comm may hold spaces and parentheses.
    stat = (proc / "stat").read_text()
    return stat[stat.rindex(")") + 2 :].startswith("Z")
