"""OneInboxExportCallsOperator in a real Airflow run (``dag.test()``) against the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_oneinbox.exceptions import OneInboxInputError
from tests.conftest import task_xcoms
from tests.helpers.dags import instances, write_dag
from tests.helpers.exports import assert_no_secret, instant, lines_of
from tests.helpers.simulator_api import create_call, get_call

PRELUDE = "from airflow_provider_oneinbox.operators.export import OneInboxExportCallsOperator"


def test_the_operator_exports_to_a_templated_path_and_returns_counts_without_secrets(
    frozen: Any, load_dag: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    call = create_call(frozen, "+14155551001")
    frozen.advance(60)
    record = get_call(frozen, call["id"])
    start = instant(record["ended_at"]).replace(microsecond=0)
    body = f"""
OneInboxExportCallsOperator(
    task_id="export",
    path="file://{tmp_path}/{{{{ ds }}}}/calls.jsonl",
    interval_start="{start.isoformat()}",
    interval_end="{start.replace(year=start.year + 1).isoformat()}",
    direction="outbound",
    recordings=True,
    analysis_grace=0,
)
"""
    dag_run = write_dag(load_dag, body, prelude=PRELUDE, prefix="export").test()

    (ti,) = instances(dag_run, "export")
    assert ti.state == "success"
    (result,) = task_xcoms(dag_run, "export")
    (day,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert result["path"] == f"file://{day}/calls.jsonl"
    assert (result["calls"], result["analysed"], result["pending"], result["recordings"]) == (1, 1, 0, 1)
    (line,) = lines_of(day / "calls.jsonl")
    assert line["id"] == call["id"]
    assert (day / line["recording"]["path"]).stat().st_size == line["recording"]["bytes"]
    signature = urlsplit(record["recording_url"]).query
    out, err = capfd.readouterr()
    assert f"Exported 1 call(s) (0 pending) to file://{day}/calls.jsonl" in out + err
    assert_no_secret(out + err + repr(result), signature, "signature=")


def test_a_run_without_a_data_interval_fails_naming_it_before_any_request(
    sim: Any, load_dag: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    body = f'OneInboxExportCallsOperator(task_id="export", path="file://{tmp_path}/calls.jsonl")'
    dag_run = write_dag(load_dag, body, prelude=PRELUDE, prefix="export").test()

    (ti,) = instances(dag_run, "export")
    assert ti.state == "failed"
    assert "Exporting calls failed: Invalid 'interval_" in capfd.readouterr().out
    assert sim.requests() == []
    assert list(tmp_path.iterdir()) == []


def test_bad_filters_and_bounds_fail_when_the_dag_is_parsed_and_templates_wait() -> None:
    from airflow_provider_oneinbox.operators.export import OneInboxExportCallsOperator

    for arguments, field in (
        ({"direction": "sideways"}, "direction"),
        ({"agent_ids": "agt_sales"}, "agent_ids"),
        ({"max_pages": 0}, "max_pages"),
        ({"created_margin": -5}, "created_margin"),
    ):
        with pytest.raises(OneInboxInputError) as raised:
            OneInboxExportCallsOperator(task_id="export", path="file:///tmp/x.jsonl", **arguments)
        assert raised.value.field == field
    templated = OneInboxExportCallsOperator(
        task_id="export", path="file:///tmp/x.jsonl", direction="{{ params.direction }}"
    )
    assert templated.direction == "{{ params.direction }}"
