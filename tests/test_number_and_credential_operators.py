"""Credential and phone-number operators, run through a real Airflow against the simulator."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import CONN_ID, TEST_API_KEY, connection_json, task_xcoms
from tests.helpers.dags import write_dag

CARRIER_KEY = "twilio_auth_token_9d8c7b6a5f4e"

NUMBER_OPERATORS = """
from airflow_provider_oneinbox.operators.credentials import OneInboxCreateCredentialOperator
from airflow_provider_oneinbox.operators.phone_numbers import (
    OneInboxRegisterPhoneNumberOperator,
    OneInboxSearchPhoneNumbersOperator,
    OneInboxUpdatePhoneNumberOperator,
)
"""
NUMBERS_DAG = """
credential = OneInboxCreateCredentialOperator(
    task_id="credential", name="Sales Twilio", provider="twilio",
    carrier_api_key="{{ conn.carrier_test.password }}",
)
register = OneInboxRegisterPhoneNumberOperator(
    task_id="register", phone_number="+14157040000", agent_id="{{ params.agent_id }}",
    provider="twilio", credential_id=credential.output, retries=3,
)
update = OneInboxUpdatePhoneNumberOperator(
    task_id="update", phone_number_id=register.output, agent_id="{{ params.agent_id }}",
)
search = OneInboxSearchPhoneNumbersOperator(task_id="search", country="US", area_code="415", limit=3)
register >> update >> search
"""


@pytest.fixture
def numbers_dag(sim: Any, load_dag: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    carrier = '{"conn_type": "generic", "password": "' + CARRIER_KEY + '"}'
    monkeypatch.setenv("AIRFLOW_CONN_CARRIER_TEST", carrier)
    params = ', params={"agent_id": "agt_sales"}'
    return write_dag(load_dag, NUMBERS_DAG, NUMBER_OPERATORS, prefix="numbers", dag_args=params)


def test_register_update_and_search(sim: Any, numbers_dag: Any) -> None:
    dag_run = numbers_dag.test()
    assert dag_run.state == "success"
    (credential_id,) = task_xcoms(dag_run, "credential")
    (number_id,) = task_xcoms(dag_run, "register")
    (updated,) = task_xcoms(dag_run, "update")
    (found,) = task_xcoms(dag_run, "search")
    assert str(uuid.UUID(credential_id)) == credential_id  # the API types these ids as UUIDs
    assert str(uuid.UUID(number_id)) == number_id
    assert updated["id"] == number_id
    assert updated["agent_id"] == "agt_sales"
    assert len(found) == 3
    assert all(number["phone_number"].startswith("+1415") for number in found)


def test_rerun_reuses_the_credential_and_reassigns_the_number(sim: Any, numbers_dag: Any) -> None:
    first = numbers_dag.test()
    second = numbers_dag.test(run_conf={"agent_id": "agt_support"})
    assert first.state == second.state == "success"
    assert task_xcoms(first, "credential") == task_xcoms(second, "credential")
    assert task_xcoms(first, "register") == task_xcoms(second, "register")
    (updated,) = task_xcoms(second, "update")
    assert updated["agent_id"] == "agt_support"
    assert len(sim.requests(method="POST", path_prefix="/v1/credentials")) == 1
    registrations = sim.requests(method="POST", path_prefix="/v1/phone-numbers")
    assert [entry["status"] for entry in registrations] == [201, 409]


def test_unknown_agent_fails_once_without_retries(sim: Any, numbers_dag: Any) -> None:
    dag_run = numbers_dag.test(run_conf={"agent_id": "agt_does_not_exist"})
    register = dag_run.get_task_instance("register")
    assert register.state == "failed"
    assert register.try_number == 1, "a 404 must not be retried"


def test_secrets_stay_out_of_logs_xcom_and_rendered_fields(
    sim: Any, numbers_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields

    dag_run = numbers_dag.test()
    out, err = capfd.readouterr()
    assert "Created OneInbox credential" in out + err, "the task log was not captured"
    for secret in (CARRIER_KEY, TEST_API_KEY):
        assert secret not in out + err
        for ti in dag_run.get_task_instances():
            assert secret not in repr(ti.xcom_pull(task_ids=ti.task_id))
            rendered = RenderedTaskInstanceFields.get_templated_fields(ti)
            assert secret not in repr(rendered)
    credential_ti = dag_run.get_task_instance("credential")
    assert "carrier_api_key" in (RenderedTaskInstanceFields.get_templated_fields(credential_ti) or {})


def test_wrong_api_key_fails_without_retries(
    sim: Any, numbers_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sim.base_url, api_key="oi_sk_wrong")
    )
    dag_run = numbers_dag.test()
    credential = dag_run.get_task_instance("credential")
    assert credential.state == "failed"
    assert credential.try_number == 1
