"""
The OneInbox simulator in a process of its own, so its CPU never counts against the measured process.

:class:`SimulatorProcess` starts ``python -m airflow_provider_oneinbox.simulator --tls`` on a free
loopback port, reads its URL and CA certificate from its first lines of output, talks to its
``/_sim`` admin endpoints, and always kills it on exit.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from airflow_provider_oneinbox._compat import datetime_fromisoformat
from airflow_provider_oneinbox.simulator import DEFAULT_API_KEY

#: Route key of the poll in ``requests_by_route``.
POLL_ROUTE = "GET /v1/calls/{call_id}"
LIST_ROUTE = "GET /v1/calls/cursor"
#: Seconds the simulator gets to print its URL.
START_TIMEOUT = 60.0


def parse_iso(value: str) -> float:
    """Epoch seconds of an ISO-8601 ``...Z`` timestamp."""
    return datetime_fromisoformat(value.replace("Z", "+00:00")).timestamp()


class SimulatorProcess:
    """
    A running simulator subprocess (HTTPS on 127.0.0.1) and an admin client for it.

    Admin requests each use a fresh connection, counted in :attr:`admin_connections`, so the
    benchmark can take them out of the simulator's ``connections_opened``.

    :param speed: Simulated seconds per real second at start (and after each reset).
    :param analysis_delay: Simulated seconds between a call's end and its post-call data.
    :param log_path: Where the simulator's output goes after its first two lines.
    """

    def __init__(self, speed: float = 1.0, analysis_delay: float = 3.0, log_path: Path | None = None) -> None:
        self.speed = speed
        self.analysis_delay = analysis_delay
        self.log_path = log_path
        self.api_key = DEFAULT_API_KEY
        self.base_url = ""
        self.ca_cert_path = ""
        self.admin_connections = 0
        self._proc: subprocess.Popen[str] | None = None
        self._client: httpx.Client | None = None
        self._drain: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> SimulatorProcess:
        """Start the subprocess and wait (bounded) until it listens."""
        command = [
            sys.executable,
            "-m",
            "airflow_provider_oneinbox.simulator",
            "--tls",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--speed",
            str(self.speed),
            "--analysis-delay",
            str(self.analysis_delay),
        ]
        self._proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # Ctrl-C in the terminal reaches only the benchmark, which stops it
        )
        lines: queue.Queue[str | None] = queue.Queue()
        self._drain = threading.Thread(target=self._read_output, args=(lines,), daemon=True)
        self._drain.start()
        deadline = time.monotonic() + START_TIMEOUT
        seen: list[str] = []
        while not (self.base_url and self.ca_cert_path):
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"The simulator did not start within {START_TIMEOUT} s: {seen}")
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"The simulator exited at start: {seen}")
            seen.append(line)
            if "listening on " in line:
                self.base_url = line.split("listening on ", 1)[1].split()[0]
            elif line.startswith("CA certificate: "):
                self.ca_cert_path = line.removeprefix("CA certificate: ").strip()
        self._client = httpx.Client(
            base_url=self.base_url,
            verify=self.ca_cert_path,
            timeout=60.0,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        self.health()
        return self

    def _read_output(self, lines: queue.Queue[str | None]) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        log = self.log_path.open("w") if self.log_path else None
        try:
            for line in self._proc.stdout:
                if log is not None:
                    log.write(line)
                    log.flush()
                lines.put(line.rstrip("\n"))
        finally:
            lines.put(None)
            if log is not None:
                log.close()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; always returns with the process gone."""
        if self._client is not None:
            self._client.close()
            self._client = None
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        if self._drain is not None:
            self._drain.join(timeout=5)

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The simulator's process id."""
        assert self._proc is not None
        return self._proc.pid

    # -- admin ----------------------------------------------------------------------------------
    def _admin(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._client is None:
            raise RuntimeError("The simulator is not running")
        self.admin_connections += 1
        response = self._client.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def health(self) -> None:
        """Raise unless the simulator answers."""
        self._admin("GET", "/_sim/health")

    def stats(self) -> dict[str, Any]:
        """``GET /_sim/stats``."""
        result: dict[str, Any] = self._admin("GET", "/_sim/stats")
        return result

    def reset(self) -> None:
        """Forget calls, logs and counters; back to the start speed."""
        self._admin("POST", "/_sim/reset")

    def configure(self, speed: float | None = None, analysis_delay: float | None = None) -> None:
        """Change the simulated clock's speed and/or the analysis delay."""
        body = {k: v for k, v in {"speed": speed, "analysis_delay": analysis_delay}.items() if v is not None}
        self._admin("POST", "/_sim/configure", json=body)

    def advance(self, seconds: float) -> None:
        """Move the simulated clock forward by ``seconds``."""
        self._admin("POST", "/_sim/advance", json={"seconds": seconds})

    def requests(self, path_prefix: str | None = None) -> list[dict[str, Any]]:
        """The request log (``method, path, route, status, fault, time``), oldest first."""
        params = {"path_prefix": path_prefix} if path_prefix else None
        items: list[dict[str, Any]] = self._admin("GET", "/_sim/requests", params=params)["items"]
        return items

    def sim_to_real(self) -> tuple[float, float]:
        """
        ``(real wall time, simulated wall time)`` of one instant, to map simulated timestamps to real ones.

        Simulated ISO timestamps are ``epoch + simulated seconds``; at speed 1 a simulated instant
        ``t`` happens in real time at ``real + (t - simulated)``.
        """
        before = time.time()
        sim_time = parse_iso(self.stats()["sim_time"])
        after = time.time()
        return (before + after) / 2, sim_time

    def cpu_seconds(self) -> float:
        """CPU seconds the simulator process has used so far (from /proc)."""
        with open(f"/proc/{self.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    # -- calls ----------------------------------------------------------------------------------
    def create_calls(
        self, count: int, to_number: str, from_number: str, agent_id: str = "agt_sales", concurrency: int = 32
    ) -> list[dict[str, Any]]:
        """Create ``count`` calls (keep-alive HTTPS, ``concurrency`` at a time); their records, in order."""
        return asyncio.run(self._create_calls(count, to_number, from_number, agent_id, concurrency))

    async def _create_calls(
        self, count: int, to_number: str, from_number: str, agent_id: str, concurrency: int
    ) -> list[dict[str, Any]]:
        body = {"agent_id": agent_id, "to_number": to_number, "from_number": from_number}
        records: list[dict[str, Any]] = [{} for _ in range(count)]
        next_index = iter(range(count))
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(
            base_url=self.base_url,
            verify=self.ca_cert_path,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=60.0,
            limits=limits,
        ) as client:

            async def creator() -> None:
                for index in next_index:
                    response = await client.post("/v1/calls", json=body)
                    response.raise_for_status()
                    records[index] = response.json()

            await asyncio.gather(*(creator() for _ in range(min(concurrency, count))))
        return records
