"""
Bad input, run as real tasks through ``dag.test()``: each fails at once with a clear error.

Every case is a DAG whose task has ``retries=2``. It must fail on its first try (a retry cannot
fix bad input), with an error that names the offending field and says how to fix it, and, where
the case allows, before any request reaches the simulator. A wrong API key and an unknown agent
or call necessarily reach the API once; they must still not be retried.

Settings that can be checked without running anything (``poll_interval``, ``timeout``) are
refused when the operator is built, i.e. when the DAG file is parsed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_oneinbox.simulator import OneInboxSimulator
from airflow_provider_oneinbox.task_errors import AirflowException, AirflowFailException
from airflow_provider_oneinbox.validation import MAX_JSON_OBJECT_BYTES
from tests.conftest import CONN_ID, connection_json
from tests.helpers.dags import dag_source as build_dag_source

pytestmark = pytest.mark.airflow_db

FROM = "+14155550100"
TO = "+14155550101"
WRONG_KEY = "oi_sk_wrong_0f1e2d3c4b5a69788796"

NOT_JSON = """
class NotJson:
    '''An object a JSON encoder cannot handle.'''
"""


def dag_source(body: str, dag_args: str = "") -> str:
    """A DAG file whose ``with DAG`` block is ``body``."""
    return build_dag_source(body, prelude=NOT_JSON, prefix="bad_input", dag_args=dag_args)


def place_call(**overrides: str) -> str:
    """A place-call task with retries; ``overrides`` are Python source of its arguments."""
    arguments = {"agent_id": '"agt_sales"', "to_number": f'"{TO}"', "from_number": f'"{FROM}"'}
    arguments.update(overrides)
    rendered = ", ".join(f"{name}={value}" for name, value in arguments.items())
    return f'OneInboxPlaceCallOperator(task_id="task", {rendered}, retries=2, retry_delay=timedelta(0))'


#: A well-formed call id (the API's ids are UUIDs) that names no call.
UNKNOWN_CALL = "5f0c2a9e-1b7d-4c3e-8a6f-0123456789ab"


def sensor(**overrides: str) -> str:
    """A deferrable call sensor with retries; ``overrides`` are Python source of its arguments."""
    arguments = {"call_id": f'"{UNKNOWN_CALL}"', "poke_interval": "0.2"}
    arguments.update(overrides)
    rendered = ", ".join(f"{name}={value}" for name, value in arguments.items())
    return f'OneInboxCallSensor(task_id="task", {rendered}, retries=2, retry_delay=timedelta(0))'


@dataclass(frozen=True)
class Case:
    """
    One bad input.

    :param body: The DAG's tasks; the one under test has task id ``task``.
    :param field: What the error must name (the argument, or the connection).
    :param hint: What the error must say to fix it.
    :param requests: ``(method, path)`` of the requests that must reach the API; none by default.
    :param connection: A replacement ``oneinbox_default`` connection: ``"wrong_key"`` or an http URL.
    :param dag_args: Extra ``DAG(...)`` arguments, as source.
    """

    body: str
    field: str
    hint: str
    requests: tuple[tuple[str, str], ...] = ()
    connection: str | None = None
    dag_args: str = ""


NUMBER_CASES = {
    "missing_plus": ('"14155550101"', "'+', country code and number"),
    "letters": ('"+1415555CALL"', "digits only"),
    "too_long": ('"+1234567890123456"', "at most 15"),
    "leading_zero": ('"+04155550101"', "'+14155550123'"),
    # Of E.164's form, but no numbering plan has them: a regular expression let them be dialled.
    "too_short_to_exist": ('"+10"', "cannot exist (too short)"),
    "area_code_555": ('"+15550001000"', "numbering plan of country code +1 (US)"),
    "too_long_for_its_country": ('"+4420718387501"', "too long for country code +44 (GB)"),
}

SET_FROM_UPSTREAM = """
@task
def contact_fields():
    return {"tags": {"vip", "new"}}

fields = contact_fields()
"""

CASES: dict[str, Case] = {
    **{
        f"{field}_{name}": Case(place_call(**{field: value}), f"'{field}'", hint)
        for field in ("to_number", "from_number")
        for name, (value, hint) in NUMBER_CASES.items()
    },
    "number_made_an_int_by_native_rendering": Case(
        place_call(),
        "'to_number'",
        "render_template_as_native_obj=True",
        dag_args=", render_template_as_native_obj=True",
    ),
    "agent_id_empty": Case(place_call(agent_id='""'), "'agent_id'", "non-empty string"),
    "agent_id_blank": Case(place_call(agent_id='"   "'), "'agent_id'", "non-empty string"),
    "sensor_call_id_empty": Case(sensor(call_id='""'), "'call_id'", "non-empty string"),
    "sensor_call_id_blank": Case(sensor(call_id='"   "'), "'call_id'", "non-empty string"),
    "missing_connection": Case(
        place_call(oneinbox_conn_id='"oneinbox_missing"'), "'oneinbox_missing' is not defined", "create it"
    ),
    "sensor_missing_connection": Case(
        sensor(oneinbox_conn_id='"oneinbox_missing"'), "'oneinbox_missing' is not defined", "create it"
    ),
    "wrong_api_key": Case(
        place_call(),
        "401",
        "check the API key",
        requests=(("POST", "/v1/calls"),),
        connection="wrong_key",
    ),
    "sensor_wrong_api_key": Case(
        sensor(),
        "401",
        "check the API key",
        requests=(("GET", f"/v1/calls/{UNKNOWN_CALL}"),),
        connection="wrong_key",
    ),
    "unknown_agent": Case(
        place_call(agent_id='"agt_nobody"'),
        "Agent not found",
        "does not exist",
        requests=(("POST", "/v1/calls"),),
    ),
    "sensor_unknown_call": Case(
        sensor(),
        UNKNOWN_CALL,
        "does not exist",
        requests=(("GET", f"/v1/calls/{UNKNOWN_CALL}"),),
    ),
    "sensor_malformed_call_id": Case(  # the API types call ids as UUIDs: FastAPI answers 422
        sensor(call_id='"call_0123456789"'),
        "call_0123456789",
        "Pass the id exactly as OneInbox returned it",
        requests=(("GET", "/v1/calls/call_0123456789"),),
    ),
    "variables_with_a_set": Case(
        place_call(variables='{"tags": {"vip", "new"}}'), "'variables'", "must be JSON-serializable"
    ),
    "variables_with_an_object": Case(
        place_call(variables='{"customer": NotJson()}'), "'variables'", "must be JSON-serializable"
    ),
    "variables_with_a_set_from_upstream_xcom": Case(
        SET_FROM_UPSTREAM + place_call(variables="fields"), "'variables'", "must be JSON-serializable"
    ),
    "variables_not_a_dict": Case(place_call(variables='["Ada"]'), "'variables'", "expected a dict"),
    "variables_oversized": Case(
        place_call(variables=f'{{"notes": "x" * {MAX_JSON_OBJECT_BYTES}}}'), "'variables'", "send less data"
    ),
    "metadata_oversized": Case(
        place_call(metadata=f'{{"blob": "x" * {MAX_JSON_OBJECT_BYTES}}}'), "'metadata'", "send less data"
    ),
    "http_base_url_to_remote_host": Case(
        place_call(), "plain http://", "use https://", connection="http://api.oneinbox.ai"
    ),
    "sensor_http_base_url_to_remote_host": Case(
        sensor(), "plain http://", "use https://", connection="http://api.oneinbox.ai"
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input_fails_once_with_a_clear_error(
    case: Case,
    sim: OneInboxSimulator,
    load_dag: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    task_runs: list[Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    if case.connection == "wrong_key":
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sim.base_url, WRONG_KEY))
    elif case.connection is not None:
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(case.connection))
    dag = load_dag(dag_source(case.body, case.dag_args))

    dag_run = dag.test()

    ti = dag_run.get_task_instance("task")
    assert (ti.state, ti.try_number) == ("failed", 1), "bad input must fail at once, without retries"
    (run,) = [run for run in task_runs if run.ti.task_id == "task"]
    assert isinstance(run.error, AirflowFailException), repr(run.error)
    message = str(run.error)
    assert case.field in message
    assert case.hint in message
    assert "not retried" in message
    out, err = capfd.readouterr()
    assert message in out + err, "the task log must show the error"
    assert [(entry["method"], entry["path"]) for entry in sim.requests()] == list(case.requests)
    assert sim.stats()["calls_created"] == 0


SETTING_CASES = {
    "zero_poll_interval": (place_call(poll_interval="0"), "poll_interval must be > 0"),
    "negative_poll_interval": (place_call(poll_interval="-5"), "poll_interval must be > 0"),
    "timeout_below_poll_interval": (
        place_call(poll_interval="30", timeout="10"),
        "timeout (10s) must be >= poll_interval (30s); raise timeout or lower poll_interval",
    ),
    "sensor_zero_poke_interval": (sensor(poke_interval="0"), "poke_interval must be > 0"),
    "sensor_negative_poke_interval": (sensor(poke_interval="-5"), "poke_interval` must be"),
    "sensor_timeout_below_poke_interval": (
        sensor(poke_interval="30", timeout="10"),
        "timeout (10s) must be >= poke_interval (30s); raise timeout or lower poke_interval",
    ),
}


@pytest.mark.parametrize(("body", "message"), list(SETTING_CASES.values()), ids=list(SETTING_CASES))
def test_bad_wait_settings_fail_when_the_dag_is_parsed(
    body: str, message: str, sim: OneInboxSimulator, load_dag: Callable[..., Any]
) -> None:
    # BaseSensorOperator checks poke_interval first: a ValueError since Airflow 3.2, before that an
    # AirflowException (with the same message).
    with pytest.raises((ValueError, AirflowException), match=re.escape(message)) as info:
        load_dag(dag_source(body))
    assert isinstance(info.value, ValueError) or str(info.value).startswith("Operator arg `poke_interval`")
    assert sim.requests() == []


@pytest.fixture(autouse=True)
def _no_stray_dag_files() -> Iterator[None]:
    """Remove this module's DAG files (some fail to import) from the dags folder other runs parse."""
    from tests.conftest import DAGS_FOLDER

    before = set(DAGS_FOLDER.iterdir())
    yield
    for path in set(DAGS_FOLDER.iterdir()) - before:
        if path.name.startswith("test_dag_"):
            path.unlink()
