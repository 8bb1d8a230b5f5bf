"""
OneInboxCampaignOperator takes its contacts from an upstream task's XCom (an XComArg): the list
reaches the operator resolved, is checked, and each contact is called once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import task_xcoms
from tests.helpers.campaigns import NUMBERS, PRELUDE, campaign, rows, run

if TYPE_CHECKING:
    from airflow_provider_oneinbox.simulator import OneInboxSimulator

pytestmark = pytest.mark.airflow_db


def test_contacts_from_an_upstream_task_are_called_once_each_in_their_order(
    sim: OneInboxSimulator, load_dag: Callable[..., Any], tmp_path: Path
) -> None:
    results = tmp_path / "results.jsonl"
    prelude = (
        f"{PRELUDE}\nfrom airflow.sdk import task\n\n\n@task\ndef export_contacts():\n"
        f"    return [{{'key': f'crm-{{i}}', 'to_number': n}} for i, n in enumerate({NUMBERS[:3]!r})]\n"
    )
    # The campaign's contacts argument is the upstream task's output, not a literal list.
    body = campaign("CONTACTS", results, "max_concurrent_calls=3, calls_per_minute=600").replace(
        "contacts='CONTACTS'", "contacts=export_contacts()"
    )
    assert "contacts=export_contacts()" in body

    dag_run = run(load_dag, body, prelude)

    assert dag_run.state == "success"
    assert {n: sim.calls_created(n) for n in NUMBERS[:3]} == dict.fromkeys(NUMBERS[:3], 1)
    assert [row["key"] for row in rows(results)] == ["crm-0", "crm-1", "crm-2"]
    (summary,) = task_xcoms(dag_run, "campaign")
    assert (summary["contacts"], summary["calls"]) == (3, 3)
