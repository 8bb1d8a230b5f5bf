"""
A trigger's deadline holds against an API that answers one byte every few seconds (issue 10, row 2).

A tiny raw-socket server of this file plays the API: ``GET /v1/calls/{id}`` answers a running
call (or not at all) and then drips, ``POST /v1/calls/{id}/stop`` answers at once. The trigger
runs directly on an event loop; its poll still running at the deadline is abandoned and the wait
ends with a ``timeout`` event, which the worker turns into a hang-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_oneinbox.exceptions import OneInboxServerError
from airflow_provider_oneinbox.task_errors import AirflowSensorTimeout
from airflow_provider_oneinbox.triggers.calls import OneInboxCallTrigger
from airflow_provider_oneinbox.wait_rules import CallWatch
from tests.conftest import connection_json

CALL_ID = "5f0c2a9e-1b7d-4c3e-8a6f-0123456789ab"
CONN_ID = "oneinbox_drip"
#: The connection's request timeout: far longer than any deadline here.
REQUEST_TIMEOUT = 10
#: Seconds between two bytes of a dripping answer.
DRIP_EVERY = 0.5


class DripServer:
    """
    Answers ``GET`` with a running call for the first ``answered`` reads, then drips forever;
    answers ``POST .../stop`` with the ended call. Records each request line.

    :param answered: How many ``GET`` requests get a whole answer before the dripping starts.
    """

    def __init__(self, answered: int = 0) -> None:
        self.answered = answered
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> DripServer:
        self._start(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._sock.close()

    def _start(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._start(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        buffer = b""
        with conn, contextlib.suppress(OSError):
            while not self._stop.is_set():
                if b"\r\n\r\n" not in buffer:
                    try:
                        chunk = conn.recv(65536)
                    except TimeoutError:
                        continue
                    if not chunk:
                        return
                    buffer += chunk
                    continue
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                line = head.split(b"\r\n", 1)[0].decode()
                self.requests.append(line)
                method, path = line.split(" ")[:2]
                if method == "POST" and path.endswith("/stop"):
                    self._reply(conn, {"id": CALL_ID, "status": "completed", "end_reason": "api_stop"})
                elif sum(r.startswith("GET ") for r in self.requests) <= self.answered:
                    self._reply(conn, {"id": CALL_ID, "status": "in_progress", "agent_id": "agt_sales"})
                else:
                    self._drip(conn)
                    return

    @staticmethod
    def _reply(conn: socket.socket, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        conn.sendall(head.encode() + data)

    def _drip(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        while not self._stop.wait(DRIP_EVERY):
            conn.sendall(b" ")


@pytest.fixture
def drip(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[DripServer]:
    """A dripping API, and connection ``oneinbox_drip`` pointing at it."""
    with DripServer(answered=getattr(request, "param", 0)) as server:
        url = f"http://127.0.0.1:{server.port}"
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(url, timeout=REQUEST_TIMEOUT, max_retries=1)
        )
        yield server


def run(trigger: OneInboxCallTrigger) -> tuple[dict[str, Any], float]:
    """The trigger's one event, and the seconds it took."""

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    started = time.monotonic()
    events = asyncio.run(collect())
    assert len(events) == 1, events
    return events[0], time.monotonic() - started


def trigger(seconds_left: float, **kwargs: Any) -> OneInboxCallTrigger:
    return OneInboxCallTrigger(
        call_id=CALL_ID,
        oneinbox_conn_id=CONN_ID,
        poll_interval=0.2,
        deadline=time.time() + seconds_left,
        analysis_grace_period=5,
        agent_id="agt_sales",
        **kwargs,
    )


@pytest.mark.parametrize("shared", [False, True], ids=["alone", "shared_polling"])
def test_a_first_poll_that_drips_past_the_deadline_ends_as_a_timeout_at_it(
    drip: DripServer, shared: bool
) -> None:
    # No failure tolerated: the hook's failure at the deadline must still end as a timeout.
    event, elapsed = run(trigger(1.5, shared_polling=shared, max_consecutive_errors=0))
    assert event == {
        "status": "timeout",
        "call_id": CALL_ID,
        "call_status": None,
        "message": f"Timed out waiting for OneInbox call {CALL_ID} (last status: unknown).",
    }
    assert 1.4 <= elapsed < 2.5  # the deadline, not a request timeout (10 s) nor the drip's length
    assert drip.requests == [f"GET /v1/calls/{CALL_ID} HTTP/1.1"]


@pytest.mark.parametrize("drip", [2], indirect=True)
def test_a_dripping_poll_of_a_running_call_times_out_and_the_worker_hangs_up(drip: DripServer) -> None:
    from airflow_provider_oneinbox.sensors.calls import OneInboxCallSensor

    event, elapsed = run(trigger(2.0, shared_polling=False))
    assert (event["status"], event["call_status"]) == ("timeout", "in_progress")
    assert 1.9 <= elapsed < 3.0
    assert len(drip.requests) == 3  # two answers, then the read abandoned at the deadline

    sensor = OneInboxCallSensor(task_id="wait", call_id=CALL_ID, oneinbox_conn_id=CONN_ID)
    started = time.monotonic()
    with pytest.raises(AirflowSensorTimeout, match=r"last status: in_progress.*The call was hung up"):
        sensor.execute_complete(context={}, event=event)  # type: ignore[arg-type]
    assert time.monotonic() - started < 2
    assert drip.requests[-1] == f"POST /v1/calls/{CALL_ID}/stop HTTP/1.1"


def test_a_read_that_ignores_its_bound_is_abandoned_soon_after_the_deadline(
    monkeypatch: pytest.MonkeyPatch, drip: DripServer
) -> None:
    """Should the hook not give up at the deadline it was given, the trigger stops waiting for it."""
    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook
    from airflow_provider_oneinbox.triggers import calls

    async def hangs(self: OneInboxAsyncHook, call_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        await asyncio.sleep(3600)
        raise AssertionError("not reached")

    monkeypatch.setattr(OneInboxAsyncHook, "get_call", hangs)
    event, elapsed = run(trigger(1.0, shared_polling=False, max_consecutive_errors=0))
    assert (event["status"], event["call_status"]) == ("timeout", None)
    assert 1.0 + calls.DEADLINE_BACKSTOP_SECONDS <= elapsed < 3.0


def test_a_transient_failure_once_the_deadline_has_passed_is_a_timeout_not_an_error() -> None:
    watch = CallWatch(
        CALL_ID,
        poll_interval=1,
        deadline=time.time() + 0.05,
        analysis_grace_period=5,
        max_consecutive_errors=0,
        log=logging.getLogger(__name__),
    )
    assert watch.observe({"id": CALL_ID, "status": "in_progress"}) is None
    time.sleep(0.1)
    # Past the deadline, a failure that would exhaust max_consecutive_errors=0 ends as the deadline does.
    event = watch.observe_error(OneInboxServerError("503 from the last poll"))
    assert event is not None
    assert (event.status, event.to_payload()["call_status"]) == ("timeout", "in_progress")
    # Before the deadline the same failure is an error event, as before.
    watch.deadline = time.time() + 60
    error = watch.observe_error(OneInboxServerError("503"))
    assert error is not None
    assert error.status == "error"


def test_a_call_ended_before_a_dripping_poll_hit_the_deadline_succeeds_without_its_analysis() -> None:
    watch = CallWatch(
        CALL_ID,
        poll_interval=1,
        deadline=time.time() + 0.05,
        analysis_grace_period=60,
        max_consecutive_errors=5,
        log=logging.getLogger(__name__),
    )
    assert watch.observe({"id": CALL_ID, "status": "completed", "end_reason": "user_hangup"}) is None
    time.sleep(0.1)
    assert watch.deadline_event().to_payload() == {
        "status": "success",
        "call_id": CALL_ID,
        "call_status": "completed",
        "end_reason": "user_hangup",
        "analysis_missing": True,
    }
