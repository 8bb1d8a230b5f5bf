"""While a call is deferred, the trigger logs each status change once at INFO, and never the transcript."""

from __future__ import annotations

import re

import pytest

from airflow_provider_oneinbox.simulator import OneInboxSimulator
from tests.helpers.calls import get, place
from tests.helpers.trigger_runs import only_event, trigger_for

RINGING = "+14155550106"  # scenario 06: initiated 1 s, undocumented "ringing" 5 s, talks 20 s
BOOKED = "+14155550101"  # scenario 01: rings 2 s, talks 30 s, "Appointment Booked"


def status_lines(text: str, call_id: str) -> list[str]:
    """The status lines of ``call_id`` in ``text``, in order, as ``old → new`` (or the first status)."""
    pattern = re.compile(rf"OneInbox call {re.escape(call_id)}(?:: (\S+ → \S+?)| is (\S+?))[.;]")
    return [m.group(1) or m.group(2) for m in pattern.finditer(text)]


def assert_one_line_per_change(lines: list[str], last: str) -> None:
    """``lines`` are the first status, then one ``old → new`` per change, chained, ending at ``last``."""
    assert lines, "no status line"
    current = lines[0]
    assert "→" not in current
    for line in lines[1:]:
        old, new = line.split(" → ")
        assert (old, new != old) == (current, True), lines
        current = new
    assert current == last, lines


@pytest.mark.parametrize("shared", [False, True], ids=["alone", "shared_poller_seat"])
def test_each_status_change_is_logged_once_at_info(
    sim: OneInboxSimulator, capsys: pytest.CaptureFixture, shared: bool
) -> None:
    call_id = place(RINGING)
    # Polls every 50 ms: each status lasts for many polls, and each must be logged once.
    event = only_event(trigger_for(call_id, poll_interval=0.05, shared_polling=shared, agent_id="agt_sales"))
    assert event["status"] == "success"
    captured = capsys.readouterr()
    text = captured.out + captured.err
    lines = status_lines(text, call_id)
    assert_one_line_per_change(lines, "completed")
    assert "ringing → in_progress" in lines
    # The analysis arrives after the end: the change to completed says the wait goes on for it.
    assert f"OneInbox call {call_id}: in_progress → completed; waiting for its analysis." in text
    for line in text.splitlines():
        if f"OneInbox call {call_id}: " in line and "→" in line:
            assert "[info" in line, line
    record = get(call_id)
    assert record["messages"]
    for message in record["messages"]:
        assert message["content"] not in text
    assert record["ai_summary"] not in text


def test_a_call_already_over_logs_its_one_status(
    sim: OneInboxSimulator, capsys: pytest.CaptureFixture
) -> None:
    call_id = place(BOOKED)
    sim.advance(3600)  # ended and analysed before the wait starts
    assert only_event(trigger_for(call_id, shared_polling=False))["status"] == "success"
    captured = capsys.readouterr()
    assert status_lines(captured.out + captured.err, call_id) == ["completed"]
