"""A campaign whose creates are refused in a row without a usable Retry-After backs off, doubling."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

pytestmark = pytest.mark.airflow_db


def test_refusals_in_a_row_double_the_pause_and_a_placed_call_resets_it(sim: OneInboxSimulator) -> None:
    from datetime import datetime

    from airflow_provider_oneinbox._compat import UTC
    from tests.helpers.campaigns import direct_runner

    now = datetime.now(UTC)
    runner = direct_runner(["+14155550105"], 1, now)
    # Three creates refused with "Retry-After: 0": nothing to honour, so the runner's own backoff.
    sim.set_faults(rate_limit_burst=3, retry_after=0, only_methods=["POST"])
    pauses = []
    for _ in range(3):
        assert runner.round(now) == 0
        assert runner.blocked_until is not None
        pauses.append((runner.blocked_until - now).total_seconds())
        assert runner.round(now) == 0  # still blocked: no create is even tried
        now = runner.blocked_until
    assert pauses == [1.0, 2.0, 4.0]
    assert sim.calls_created() == 0
    assert runner.round(now) == 1
    assert runner.refusals == 0
    assert sim.calls_created() == 1
