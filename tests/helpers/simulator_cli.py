"""``python -m airflow_provider_oneinbox.simulator`` as a user starts it: a process on a free port."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass
class SimulatorProcess:
    """
    A running simulator process, and once stopped its exit code and output.

    :param port: The loopback port it listens on.
    :param announcement: The first line it printed (where it listens).
    """

    port: int
    announcement: str
    returncode: int | None = None
    out: str = ""
    err: str = ""

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def simulator_process(*args: str) -> Iterator[SimulatorProcess]:
    """
    Start the simulator's command line on a free port with ``args``, wait (30 s at most) for it to
    announce itself, and terminate it (SIGTERM, as a user's Ctrl-C) when the block ends.

    :param args: More command-line arguments, e.g. ``"--id-style", "prefixed"``.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_oneinbox.simulator", "--port", str(port), *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "the simulator did not announce itself"
        running = SimulatorProcess(port=port, announcement=process.stdout.readline())
        yield running
    finally:
        process.terminate()
        out, err = process.communicate(timeout=15)
    running.returncode, running.out, running.err = process.returncode, out, err
