"""Raw HTTP against the simulator (``requests``, no hook): for tests of the simulator itself."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from tests.conftest import TEST_API_KEY

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}
REPO = Path(__file__).resolve().parents[2]
FROZEN = 1e-6  # a clock speed at which real time does not matter: tests move time with advance()
MISSING = "00000000-0000-4000-8000-000000000000"  # a well-formed id (uuid style) that names nothing
UNPROCESSED = {"outcome": None, "summary": None}  # analysis before post-call processing (default shape)


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a UUID in its canonical spelling."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def api(sim: OneInboxSimulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    """
    One request to the simulator with the test key.

    :param sim: The simulator.
    :param method: HTTP method.
    :param path: Path under the base URL, e.g. ``/v1/calls``.
    :param kwargs: More arguments of ``requests.request`` (``headers`` are added to the key's).
    """
    headers = {**AUTH, **kwargs.pop("headers", {})}
    return requests.request(method, sim.base_url + path, headers=headers, timeout=10, **kwargs)


def create_call(sim: OneInboxSimulator, to_number: str = "+14155551000", **body: Any) -> dict[str, Any]:
    """``POST /v1/calls`` from ``agt_sales``; the created record (asserts the 201)."""
    payload = {"agent_id": "agt_sales", "to_number": to_number, "from_number": "+14157770000", **body}
    response = api(sim, "POST", "/v1/calls", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def get_call(sim: OneInboxSimulator, call_id: str) -> dict[str, Any]:
    """``GET /v1/calls/{call_id}``; the record (asserts the 200)."""
    response = api(sim, "GET", f"/v1/calls/{call_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    """Return once ``predicate()`` is truthy (checked every 10 ms); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
