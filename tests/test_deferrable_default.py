"""
``deferrable`` not given: the deployment's ``[operators] default_deferrable`` when it sets one,
else this provider's ``True``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oneinbox.operators._base import DEFAULT_DEFERRABLE_ENV, default_deferrable
from airflow_provider_oneinbox.operators.calls import OneInboxPlaceCallOperator
from airflow_provider_oneinbox.sensors.calls import OneInboxCallSensor


def place_call(**arguments: Any) -> OneInboxPlaceCallOperator:
    return OneInboxPlaceCallOperator(
        task_id="call",
        agent_id="agt_sales",
        to_number="+14155550101",
        from_number="+14155550100",
        **arguments,
    )


def test_nothing_set_means_deferrable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEFAULT_DEFERRABLE_ENV, raising=False)
    assert default_deferrable() is True
    assert OneInboxCallSensor(task_id="wait", call_id="c1").deferrable is True
    assert place_call().deferrable is True


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("False", False), ("true", True)])
def test_the_deployments_setting_decides_when_set(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv(DEFAULT_DEFERRABLE_ENV, value)
    assert OneInboxCallSensor(task_id="wait", call_id="c1").deferrable is expected
    assert place_call().deferrable is expected


def test_an_explicit_argument_wins_over_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEFAULT_DEFERRABLE_ENV, "false")
    assert OneInboxCallSensor(task_id="wait", call_id="c1", deferrable=True).deferrable is True
    monkeypatch.setenv(DEFAULT_DEFERRABLE_ENV, "true")
    assert place_call(deferrable=False).deferrable is False


def test_reschedule_mode_never_defers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEFAULT_DEFERRABLE_ENV, raising=False)
    assert OneInboxCallSensor(task_id="wait", call_id="c1", mode="reschedule").deferrable is False


def test_a_setting_in_airflow_cfg_counts_as_set(tmp_path: Path) -> None:
    """A fresh process, so that Airflow reads this home's ``airflow.cfg``."""
    (tmp_path / "airflow.cfg").write_text("[operators]\ndefault_deferrable = False\n")
    # Not in unit test mode, which reads unit_tests.cfg instead of airflow.cfg.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {DEFAULT_DEFERRABLE_ENV, "AIRFLOW__CORE__UNIT_TEST_MODE"}
    }
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW_CONFIG=str(tmp_path / "airflow.cfg"))
    code = (
        "from airflow_provider_oneinbox.sensors.calls import OneInboxCallSensor\n"
        "print('DEFERRABLE', OneInboxCallSensor(task_id='w', call_id='c').deferrable)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert "DEFERRABLE False" in done.stdout.splitlines()
