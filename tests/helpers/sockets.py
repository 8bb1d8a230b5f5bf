"""Loopback ports: one nothing listens on, and waiting for a simulator to listen again."""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(sim: OneInboxSimulator, timeout: float = 10.0) -> None:
    """
    Block until the simulator accepts connections again after ``refuse_connections``.

    :param sim: The simulator.
    :param timeout: Seconds before the last connection error is raised.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((sim.host, sim.port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
