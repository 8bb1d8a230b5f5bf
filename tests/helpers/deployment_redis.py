"""
A throwaway Redis server (Debian's ``redis-server``) on a free loopback port: the Celery broker of
the CeleryExecutor deployment test. Its own process and session, nothing persisted, stopped after.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.helpers.sockets import free_port


class RedisServer:
    """
    ``redis-server --port N --bind 127.0.0.1 --save '' --appendonly no``, its output in ``log_path``.

    :param log_path: Where the server's log goes (kept with the deployment's logs).
    :param binary: The server binary (default: ``redis-server`` from ``PATH``).
    """

    def __init__(self, log_path: Path, binary: str | None = None) -> None:
        found = binary or shutil.which("redis-server")
        if found is None:
            raise RuntimeError(
                "redis-server is missing: install Debian's redis-server package "
                "(scripts/deployment-test --executor celery does when it can)"
            )
        self.binary = found
        self.log_path = log_path
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker URL, for ``[celery] broker_url``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def version(self) -> str:
        """``redis-server --version``'s first line."""
        done = subprocess.run([self.binary, "--version"], capture_output=True, text=True, timeout=30)
        return done.stdout.strip()

    def start(self, timeout: float = 30) -> RedisServer:
        """Start the server and wait until it answers ``PING``."""
        self.port = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.log_path.parent),
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.process.returncode}): {self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server did not answer on port {self.port}: {self.log()}")
            time.sleep(0.1)
        return self

    def ping(self) -> bool:
        """Whether the server answers ``PING`` (plain RESP over a socket: no client library)."""
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        """SIGTERM the server, SIGKILL it after 10 s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def log(self) -> str:
        """The end of the server's log."""
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-2000:]
        return ""
