"""The notifier's pure rules (``rules/notify.py``): keys, error line, links, acknowledgement, cool-down."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.ledger import call_idempotency_key
from airflow_provider_oneinbox.rules.notify import (
    first_line,
    is_acknowledged,
    notification_key,
    run_notification_key,
    task_log_url,
    within_cooldown,
)


def test_one_key_per_notifier_run_task_and_try_and_never_a_place_call_operators() -> None:
    base = ("n", "dag", "run", "task", -1, 1)
    variants = [
        base,
        ("other", "dag", "run", "task", -1, 1),
        ("n", "dag", "run2", "task", -1, 1),
        ("n", "dag", "run", "task2", -1, 1),
        ("n", "dag", "run", "task", 0, 1),
        ("n", "dag", "run", "task", -1, 2),
        ("n", "dag", "run", None, -1, 0),
    ]
    keys = {notification_key(*variant) for variant in variants}
    assert len(keys) == len(variants)
    assert notification_key(*base) == notification_key(*base)
    assert notification_key(*base) != call_idempotency_key("dag", "run", "task", -1)
    assert run_notification_key("n", "dag", "run") not in keys
    assert run_notification_key("n", "dag", "run") != run_notification_key("n", "dag", "run2")


def test_first_line_is_the_first_non_blank_line_squeezed_and_capped() -> None:
    assert first_line(ValueError("\n  disk   full\nTraceback ...")) == "ValueError: disk full"
    assert first_line(KeyError()) == "KeyError"
    assert first_line(None) == ""
    long = first_line("x" * 500, limit=20)
    assert len(long) == 20
    assert long.endswith("…")


def test_the_log_link_matches_airflows_own_and_quotes_the_run_id() -> None:
    url = task_log_url("http://airflow:8080/", "dag", "manual__2026-01-01T00:00:00+00:00", "t", 3, 2)
    assert url == (
        "http://airflow:8080/dags/dag/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00/tasks/t/mapped/3?try_number=2"
    )
    assert task_log_url("http://a", "d", "r", "t") == "http://a/dags/d/runs/r/tasks/t"


def test_acknowledgement_ignores_case_and_blanks_and_a_missing_outcome_never_acknowledges() -> None:
    assert is_acknowledged(" acknowledged ", ["Acknowledged"])
    assert not is_acknowledged("Not Connected", ["Acknowledged"])
    assert not is_acknowledged(None, ["Acknowledged"])


def test_the_cool_down_silences_recent_and_undated_calls_and_zero_silences_none() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    window = timedelta(minutes=15)
    assert within_cooldown(now - timedelta(minutes=14), now, window)
    assert not within_cooldown(now - timedelta(minutes=16), now, window)
    assert within_cooldown(None, now, window), "a call of unknown age must not let the phone ring twice"
    assert not within_cooldown(now, now, timedelta(0))
