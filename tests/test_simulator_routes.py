"""
Requests the simulator answers before FastAPI routes them (a wrong key, an injected fault) keep
their status and are logged under their route template, on whatever FastAPI/Starlette is installed
(FastAPI 0.165 broke reading the router's routes: every such request became a 500).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_oneinbox.simulator.route_table import RouteTable
from tests.helpers.simulator_api import api

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

WRONG_KEY = {"Authorization": "Bearer oi_sk_test_not_the_key"}
AN_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def _served_operations(sim: OneInboxSimulator) -> list[tuple[str, str]]:
    """``(METHOD, template)`` of every API operation, from the OpenAPI document the simulator serves."""
    document = requests.get(f"{sim.base_url}/_sim/openapi.json", timeout=10).json()
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    ]


def _last_logged(sim: OneInboxSimulator) -> dict[str, Any]:
    return sim.requests()[-1]


def test_a_wrong_key_is_401_and_logged_under_its_route_on_every_operation(sim: OneInboxSimulator) -> None:
    operations = _served_operations(sim)
    assert len(operations) > 25, "the check should cover the whole API"
    for method, template in operations:
        path = template.replace("{", "").replace("}", "")  # /v1/calls/call_id: one segment per parameter
        if template == "/v1/calls/{call_id}" and method == "GET":
            path = f"/v1/calls/{AN_ID}"  # the middleware's own fast path for pollers
        response = requests.request(method, f"{sim.base_url}{path}", headers=WRONG_KEY, json={}, timeout=10)
        assert (response.status_code, response.json()) == (401, {"detail": "Invalid API key"}), (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
        logged = _last_logged(sim)
        assert (logged["method"], logged["path"], logged["route"]) == (method, path, template)
    assert sim.calls_created() == 0


@pytest.mark.parametrize(
    ("settings", "status", "fault"),
    [
        ({"server_error_ratio": 1.0}, 503, "5xx"),
        ({"server_error_burst": 1}, 500, "5xx"),
        ({"rate_limit_ratio": 1.0}, 429, "429"),
    ],
)
def test_an_injected_fault_keeps_its_status_and_names_its_route(
    sim: OneInboxSimulator, settings: dict[str, Any], status: int, fault: str
) -> None:
    route = "/v1/webhooks/{webhook_id}/deliveries"
    sim.set_faults(**settings, only_routes=[route])
    response = api(sim, "GET", f"/v1/webhooks/{AN_ID}/deliveries")
    assert response.status_code == status
    logged = _last_logged(sim)
    assert (logged["route"], logged["status"], logged["fault"]) == (route, status, fault)
    # The filter matched by template: the same path prefix on another route is left alone.
    assert api(sim, "GET", "/v1/webhooks").status_code == 200


def test_a_static_path_beats_the_template_it_also_matches(sim: OneInboxSimulator) -> None:
    sim.set_faults(rate_limit_ratio=1.0, only_routes=["/v1/phone-numbers/{phone_id}"])
    assert api(sim, "GET", "/v1/phone-numbers/search", params={"country_code": "US"}).status_code != 429
    assert _last_logged(sim)["route"] == "/v1/phone-numbers/search"
    assert api(sim, "GET", f"/v1/phone-numbers/{AN_ID}").status_code == 429


def test_routed_requests_name_their_route_a_wrong_method_too_and_unknown_paths_none(
    sim: OneInboxSimulator,
) -> None:
    assert api(sim, "PUT", "/v1/agents").status_code == 405
    assert _last_logged(sim)["route"] == "/v1/agents"
    assert api(sim, "GET", "/v1/nothing-here").status_code == 404
    assert _last_logged(sim)["route"] is None
    assert api(sim, "GET", "/v1/agents").status_code == 200
    assert _last_logged(sim)["route"] == "/v1/agents"
    assert sim.stats()["requests_by_route"] == {"PUT /v1/agents": 1, "unmatched": 1, "GET /v1/agents": 1}


def test_route_table_matching() -> None:
    table = RouteTable(
        [
            ("/v1/calls", frozenset({"GET", "POST"})),
            ("/v1/calls/cursor", frozenset({"GET"})),
            ("/v1/calls/{call_id}", frozenset({"GET", "PATCH"})),
            ("/v1/calls/{call_id}/stop", frozenset({"POST"})),
        ]
    )
    assert table.match("GET", "/v1/calls/cursor") == "/v1/calls/cursor"
    assert table.match("PATCH", "/v1/calls/cursor") == "/v1/calls/{call_id}"
    assert table.match("POST", "/v1/calls/abc/stop") == "/v1/calls/{call_id}/stop"
    assert table.match("GET", "/v1/calls/a/b") is None
    assert table.match("GET", "/v1/calls/") is None  # a parameter is never empty
    assert table.match("DELETE", "/v1/calls/abc") is None
    assert table.match("DELETE", "/v1/calls/abc", any_method=True) == "/v1/calls/{call_id}"
    assert table.match("POST", "/v1/calls/cursor", any_method=True) == "/v1/calls/cursor"
    assert table.match("GET", "/v1/calls.json") is None  # the dot is literal
