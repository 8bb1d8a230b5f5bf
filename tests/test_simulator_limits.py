"""The simulator's pacing and concurrency limits (issue 12): 429s exactly past a limit, and the record."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_oneinbox._compat import datetime_fromisoformat
from airflow_provider_oneinbox.simulator import SimOptions
from tests.helpers.simulator_api import api, create_call

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

CONCURRENCY = "CONCURRENCY_LIMIT_REACHED"
RATE = "RATE_LIMITED"
TALK = 22.0  # simulated seconds a default-scenario call lives: rings 2 s, talks 20 s


def number(i: int) -> str:
    """A default-scenario number (its last two digits are not 01..09)."""
    return f"+1415555{2000 + 10 + i:04d}"


def post(sim: OneInboxSimulator, i: int, agent_id: str = "agt_sales") -> requests.Response:
    """``POST /v1/calls`` to :func:`number` ``(i)``, whatever the answer."""
    body = {"agent_id": agent_id, "to_number": number(i), "from_number": "+14157770000"}
    return api(sim, "POST", "/v1/calls", json=body)


def assert_refused(response: requests.Response, code: str, retry_after: int | None = None) -> None:
    """A 429 with ``Retry-After`` (whole seconds, >= 1) and ``code`` in the reference's error shape."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert set(body) == {"detail", "code"}
    assert body["code"] == code
    assert body["detail"]
    wait = int(response.headers["Retry-After"])
    assert wait >= 1
    if retry_after is not None:
        assert wait == retry_after


def calls_listed(sim: OneInboxSimulator) -> int:
    """How many calls ``GET /v1/calls`` lists (every agent)."""
    return len(api(sim, "GET", "/v1/calls", params={"limit": 100}).json()["items"])


def test_limits_are_off_by_default(frozen: OneInboxSimulator) -> None:
    assert (SimOptions().max_calls_per_second, SimOptions().max_concurrent_calls) == (None, None)
    for i in range(12):
        create_call(frozen, to_number=number(i))
    record = frozen.limits_record()
    assert record["refusals_by_code"] == {}
    assert (record["live_calls"], record["peak_live_calls"]) == (12, 12)
    assert record["peak_live_calls_by_agent"] == {"agt_sales": 12}
    assert (record["peak_creates_per_second"], record["peak_creates_per_minute"]) == (12, 12)


def test_five_creates_at_once_past_a_concurrency_cap_of_three(frozen: OneInboxSimulator) -> None:
    sim = frozen
    sim.configure(max_concurrent_calls=3)
    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(pool.map(lambda i: post(sim, i), range(5)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 201, 201, 429, 429]
    for refused in (r for r in responses if r.status_code == 429):
        assert_refused(refused, CONCURRENCY, retry_after=5)  # the first slot frees in 22 s: capped at 5
    assert sim.calls_created() == 3
    assert calls_listed(sim) == 3
    assert api(sim, "GET", "/v1/usage").json()["calls_made_today"] == 3  # refusals consume no quota
    record = sim.limits_record()
    assert (record["peak_live_calls"], record["peak_live_calls_by_agent"]) == (3, {"agt_sales": 3})
    assert record["refusals_by_code"] == {CONCURRENCY: 2}
    assert record["peak_creates_per_second"] == 3  # accepted creates only


def test_the_cap_is_per_agent_and_a_slot_frees_when_a_call_ends(frozen: OneInboxSimulator) -> None:
    sim = frozen
    sim.configure(max_concurrent_calls=2)
    assert [post(sim, i).status_code for i in range(2)] == [201, 201]
    assert post(sim, 2, agent_id="agt_support").status_code == 201  # another agent has its own slots
    sim.advance(TALK - 2)
    assert_refused(post(sim, 3), CONCURRENCY, retry_after=2)  # until the earliest live call ends
    sim.advance(2.01)
    assert post(sim, 4).status_code == 201  # both ended: slots free again
    assert post(sim, 5).status_code == 201
    assert_refused(post(sim, 6), CONCURRENCY)
    record = sim.limits_record()
    assert record["peak_live_calls_by_agent"] == {"agt_sales": 2, "agt_support": 1}
    assert record["peak_live_calls"] == 3
    assert record["live_calls"] == 2  # the three first calls ended; two new ones live
    assert record["refusals_by_code"] == {CONCURRENCY: 2}
    assert sim.calls_created() == 5


def test_stopping_a_call_frees_its_slot_at_once(frozen: OneInboxSimulator) -> None:
    sim = frozen
    sim.configure(max_concurrent_calls=1)
    first = post(sim, 0).json()
    assert_refused(post(sim, 1), CONCURRENCY)
    assert api(sim, "POST", f"/v1/calls/{first['id']}/stop").status_code == 200
    assert post(sim, 2).status_code == 201
    assert_refused(post(sim, 3), CONCURRENCY)
    record = sim.limits_record()
    assert (record["live_calls"], record["peak_live_calls"]) == (1, 1)
    sim.advance(TALK + 1)  # the stopped call's natural end passes: counted off once, not twice
    assert sim.limits_record()["live_calls"] == 0
    assert post(sim, 4).status_code == 201
    assert sim.limits_record()["live_calls"] == 1


def test_queued_and_web_calls_occupy_the_agent(frozen: OneInboxSimulator) -> None:
    sim = frozen
    sim.configure(max_concurrent_calls=2)
    later = datetime_fromisoformat(sim.stats()["sim_time"]) + timedelta(hours=1)
    scheduled = create_call(sim, to_number=number(0), scheduled_at=later.isoformat())
    web = api(sim, "POST", "/v1/calls/web", json={"agent_id": "agt_sales"})
    assert web.status_code == 201
    assert api(sim, "GET", f"/v1/calls/{scheduled['id']}").json()["status"] == "queued"
    assert_refused(post(sim, 1), CONCURRENCY)
    extra_web = api(sim, "POST", "/v1/calls/web", json={"agent_id": "agt_sales"})
    assert extra_web.status_code == 201  # only POST /v1/calls is refused
    assert sim.limits_record()["peak_live_calls_by_agent"] == {"agt_sales": 3}
    assert sim.limits_record()["peak_creates_per_second"] == 1  # web calls are not carrier creates


def test_rate_limit_refuses_past_the_rolling_second_workspace_wide(frozen: OneInboxSimulator) -> None:
    sim = frozen
    sim.configure(max_calls_per_second=2)
    assert [post(sim, i).status_code for i in range(2)] == [201, 201]
    assert_refused(post(sim, 2), RATE, retry_after=1)
    assert_refused(post(sim, 3, agent_id="agt_support"), RATE, retry_after=1)  # the account's rate
    sim.advance(0.5)
    assert_refused(post(sim, 4), RATE, retry_after=1)
    sim.advance(0.51)  # the first two leave the window
    assert post(sim, 5, agent_id="agt_support").status_code == 201
    sim.advance(0.6)
    assert post(sim, 6).status_code == 201
    assert_refused(post(sim, 7), RATE, retry_after=1)  # until call 5 leaves the window: ceil(0.4)
    assert sim.calls_created() == 4
    assert calls_listed(sim) == 4
    assert api(sim, "GET", "/v1/usage").json()["calls_made_today"] == 4
    record = sim.limits_record()
    assert (record["peak_creates_per_second"], record["peak_creates_per_minute"]) == (2, 4)
    assert record["refusals_by_code"] == {RATE: 4}


def test_the_record_keeps_the_busiest_second_and_minute(frozen: OneInboxSimulator) -> None:
    sim = frozen
    for i in range(3):
        post(sim, i)
    sim.advance(0.5)
    post(sim, 3)
    post(sim, 4)
    sim.advance(0.6)  # the first three leave the 1 s window
    post(sim, 5)
    sim.advance(30)
    post(sim, 6)
    sim.advance(30)  # the 60 s window now holds at most calls 5..7
    post(sim, 7)
    record = sim.limits_record()
    assert (record["peak_creates_per_second"], record["peak_creates_per_minute"]) == (5, 7)
    assert record["peak_live_calls"] == 6  # 0..5 live together; 6 and 7 came after they ended
    assert sim.calls_created() == 8


def test_the_quota_refuses_first_and_limit_refusals_do_not_consume_it(frozen: OneInboxSimulator) -> None:
    sim = frozen
    sim.configure(max_calls_per_day=3, max_concurrent_calls=1)
    assert post(sim, 0).status_code == 201
    assert_refused(post(sim, 1), CONCURRENCY)
    assert_refused(post(sim, 2), CONCURRENCY)
    usage = api(sim, "GET", "/v1/usage").json()
    assert (usage["calls_made_today"], usage["calls_remaining_today"]) == (1, 2)
    sim.configure(max_calls_per_day=1)
    assert post(sim, 3).json()["code"] == "DAILY_CALL_LIMIT_REACHED"
    assert sim.limits_record()["refusals_by_code"] == {CONCURRENCY: 2, "DAILY_CALL_LIMIT_REACHED": 1}


def test_stats_endpoint_carries_the_record_and_reset_zeroes_it(frozen: OneInboxSimulator) -> None:
    sim = frozen
    sim.configure(max_concurrent_calls=1)
    post(sim, 0)
    post(sim, 1)
    stats = requests.get(f"{sim.base_url}/_sim/stats", timeout=5).json()
    assert stats["limits"] == sim.limits_record()
    assert stats["limits"]["refusals_by_code"] == {CONCURRENCY: 1}
    assert stats["options"]["max_concurrent_calls"] == 1
    sim.reset()
    assert sim.limits_record() == {
        "live_calls": 0,
        "peak_live_calls": 0,
        "peak_live_calls_by_agent": {},
        "peak_creates_per_second": 0,
        "peak_creates_per_minute": 0,
        "refusals_by_code": {},
    }
    assert sim.options.max_concurrent_calls is None


@pytest.mark.parametrize(
    "bad", [{"max_calls_per_second": 0}, {"max_concurrent_calls": 0}, {"max_concurrent_calls": "x"}]
)
def test_configure_endpoint_sets_and_validates_the_limits(
    sim: OneInboxSimulator, bad: dict[str, Any]
) -> None:
    base = sim.base_url
    changed = requests.post(
        f"{base}/_sim/configure", json={"max_calls_per_second": 1, "max_concurrent_calls": 2}, timeout=5
    ).json()
    assert (changed["max_calls_per_second"], changed["max_concurrent_calls"]) == (1, 2)
    assert requests.post(f"{base}/_sim/configure", json=bad, timeout=5).status_code == 422
    lifted = requests.post(f"{base}/_sim/configure", json={"max_concurrent_calls": None}, timeout=5).json()
    assert (lifted["max_calls_per_second"], lifted["max_concurrent_calls"]) == (1, None)
