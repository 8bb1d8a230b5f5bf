"""
Property-based tests of what ``OneInboxPlaceCallOperator`` checks before it dials.

**What this covers.** The operator's whole pre-request path as a task runs it, minus Airflow's
templating: ``__init__`` (``poll_interval``, ``timeout``: refused when the DAG is parsed), then
``execute`` with a minimal context stub (a task instance that records XCom pushes, no task
state store, first try) and the real hook, pointed at the simulator through the
``oneinbox_default`` connection. Hypothesis draws ``agent_id``, ``to_number``, ``from_number``,
``variables``, ``metadata``, ``webhook_url``, ``scheduled_at`` and ``poll_interval``/``timeout``
from strategies that yield both valid values and near misses, each labelled valid or invalid by
how it was built (not by calling the code under test). Properties:

* all valid: ``execute`` sends exactly one request, ``POST /v1/calls``, and the call the simulator
  stored carries the arguments (an unknown agent id is valid input: the API answers 404, once);
* anything invalid: ``__init__`` raises ``ValueError`` or ``execute`` raises
  ``AirflowFailException``, naming an invalid argument, and the simulator saw no request at all.

**Not covered here.** Templating and the task lifecycle (retries, task log): see
``test_bad_input.py``, which runs such cases through ``dag.test()``. Waiting
(``wait_for_completion`` stays ``False``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar, cast

import phonenumbers
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from airflow_provider_oneinbox._compat import UTC, datetime_fromisoformat
from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
from airflow_provider_oneinbox.operators.calls import OneInboxPlaceCallOperator
from airflow_provider_oneinbox.simulator import SEED_AGENT_IDS, OneInboxSimulator
from airflow_provider_oneinbox.task_errors import AirflowFailException
from airflow_provider_oneinbox.validation import MAX_JSON_OBJECT_BYTES

# Phone numbers: E.164 ('+', a digit 1-9, then 1 to 14 more ASCII digits) that libphonenumber
# knows can exist: its example numbers of many regions, and the US numbers reserved for fiction.
EXAMPLE_NUMBERS = sorted(
    phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    for region in ("US", "CA", "GB", "DE", "FR", "IN", "AU", "BR", "JP", "ZA", "MX", "SG", "IE", "NL")
    for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE)
    if (example := phonenumbers.example_number_for_type(region, kind)) is not None
)
E164 = st.sampled_from(EXAMPLE_NUMBERS) | st.integers(100, 199).map(lambda n: f"+14155550{n}")
#: Of E.164's form, but no numbering plan assigns them.
CANNOT_EXIST = st.sampled_from(
    ["+10", "+12", "+15550001000", "+4420718387", "+999123456789", "+123456789012345"]
)
#: Characters that never belong inside an E.164 number: letters, separators, other scripts' digits.
FOREIGN_CHARS = st.sampled_from(["a", "Z", " ", "-", ".", "(", "\n", "\u0664", "\uff14", "\u00b2"])


def near_misses(number: str) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.just(number[1:]),  # no '+'
        st.just(f"+0{number[1:]}"),  # leading zero
        st.just(f"{number[:2]}{'0' * 15}"),  # 16 digits
        st.just(number[:2]),  # a single digit
        st.just(f"+{number}"),  # two pluses
        st.just(f"{number} "),  # trailing space
        st.just(int(number[1:])),  # a number, not a string
        st.builds(  # a foreign character inserted anywhere
            lambda at, ch: f"{number[:at]}{ch}{number[at:]}",
            st.integers(0, len(number)),
            FOREIGN_CHARS,
        ),
        st.builds(  # one digit replaced by a non-ASCII digit ('\u0664' is Arabic-Indic four)
            lambda at, ch: f"{number[:at]}{ch}{number[at + 1 :]}",
            st.integers(2, len(number) - 1),
            st.sampled_from(["\u0664", "\uff14", "\u09ea"]),
        ),
    )


PHONE = (E164, E164.flatmap(near_misses) | CANNOT_EXIST | st.sampled_from([None, ""]))

# Agent ids: opaque non-blank strings; the API knows the seeded ones and answers 404 to others.
BLANKS = st.text(alphabet=" \t\r\n\u00a0\u2003", max_size=4)
KNOWN_AGENT = st.builds(
    lambda pad, agent, tail: f"{pad}{agent}{tail}", BLANKS, st.sampled_from(SEED_AGENT_IDS), BLANKS
)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
UNKNOWN_AGENT = TEXT.filter(lambda s: bool(s.strip()) and s.strip() not in SEED_AGENT_IDS)
AGENT_ID = (KNOWN_AGENT | UNKNOWN_AGENT, BLANKS | st.sampled_from([None, 42, ["agt_sales"]]))

# JSON objects, their near misses (values JSON cannot carry, not a dict), and sizes around the bound.
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
JSON_OBJECTS = st.dictionaries(TEXT, JSON_VALUES, max_size=4)
NOT_JSON = st.sampled_from(
    [{"vip", "new"}, b"bytes", datetime(2030, 1, 1, tzinfo=UTC), object(), math.nan, math.inf, -math.inf]
)
NOT_A_DICT = st.sampled_from([["a"], '{"a": 1}', 7, ("a", 1)])
T = TypeVar("T")

#: ``{"blob": "x" * n}`` is ``n + 11`` bytes of compact JSON.
BLOB_OVERHEAD = len('{"blob":""}')


def blob(size: int) -> dict[str, str]:
    return {"blob": "x" * (size - BLOB_OVERHEAD)}


def json_object(valid_up_to: int) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """Valid values (at most ``valid_up_to`` bytes) and invalid ones of a JSON-object argument."""
    with_bad_value = st.builds(
        lambda base, bad, nested: {**base, "bad": {"inner": [bad]} if nested else bad},
        JSON_OBJECTS,
        NOT_JSON,
        st.booleans(),
    )
    return (
        st.none() | JSON_OBJECTS | st.sampled_from([blob(valid_up_to), blob(valid_up_to // 2)]),
        with_bad_value
        | NOT_A_DICT
        | st.integers(1, 64).map(lambda extra: blob(MAX_JSON_OBJECT_BYTES + extra)),
    )


VARIABLES = json_object(MAX_JSON_OBJECT_BYTES)
#: The operator adds its ``airflow_*`` keys to ``metadata`` and checks the whole: stay well inside.
METADATA = json_object(MAX_JSON_OBJECT_BYTES - 1024)

# Webhook URLs.
HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z]{2,6}){0,2}", fullmatch=True)
URL_PATHS = st.text(alphabet="abcxyz019/-_.~%?=&", max_size=20)
GOOD_URLS = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}/{path}",
    st.sampled_from(["http", "https"]),
    HOSTS,
    st.sampled_from(["", ":8080", ":443", ":65535"]),
    URL_PATHS,
)
BAD_URLS = st.one_of(
    HOSTS.map(lambda host: f"{host}/hook"),  # no scheme
    HOSTS.map(lambda host: f"ftp://{host}/hook"),
    HOSTS.map(lambda host: f"https://{host[:1]} {host[1:]}/hook"),  # space in the host
    HOSTS.map(lambda host: f"https://{host}:99999/hook"),  # port out of range
    st.sampled_from(["", "https://", "http:///hook", "https:/example.com", "//example.com/hook", 443]),
)
WEBHOOK_URL = (st.none() | GOOD_URLS, BAD_URLS)

# scheduled_at: timezone-aware datetimes or ISO 8601 strings; naive ones and other types are refused.
OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])
MOMENTS = st.datetimes(min_value=datetime(2030, 1, 1), max_value=datetime(2099, 12, 31))
AWARE = st.builds(lambda moment, tz: moment.replace(tzinfo=tz), MOMENTS, OFFSETS)
SCHEDULED_AT = (
    st.none()
    | AWARE
    | AWARE.map(datetime.isoformat)
    | AWARE.map(lambda moment: f" {moment.astimezone(UTC).replace(tzinfo=None).isoformat()}Z "),
    MOMENTS  # naive
    | MOMENTS.map(datetime.isoformat)
    | st.sampled_from(["tomorrow 3pm", "2030-13-01T10:00:00+00:00", "", 1893456000, date(2030, 1, 1)]),
)


@dataclass(frozen=True)
class Wait:
    """``poll_interval`` and ``timeout`` as passed to the operator."""

    poll_interval: Any
    timeout: Any


def seconds_or_timedelta(milliseconds: int) -> st.SearchStrategy[Any]:
    return st.sampled_from([milliseconds / 1000, timedelta(milliseconds=milliseconds)])


def wait_pair(poll_ms: int, timeout_ms: int) -> st.SearchStrategy[Wait]:
    return st.builds(Wait, seconds_or_timedelta(poll_ms), seconds_or_timedelta(timeout_ms))


MILLISECONDS = st.integers(1, 10**8)
GOOD_WAITS = st.builds(lambda poll, extra: (poll, poll + extra), MILLISECONDS, st.integers(0, 10**8)).flatmap(
    lambda pair: wait_pair(*pair)
)
SHORT_TIMEOUTS = st.builds(
    lambda timeout, extra: (timeout + extra, timeout), MILLISECONDS, MILLISECONDS
).flatmap(lambda pair: wait_pair(*pair))
BAD_POLL_INTERVALS = st.sampled_from(
    [0, 0.0, -1, -0.001, timedelta(0), timedelta(seconds=-5), math.nan, math.inf, True, "10", None]
)
WAIT = (
    GOOD_WAITS | st.just(Wait(10, 3600)),
    SHORT_TIMEOUTS
    | st.builds(Wait, BAD_POLL_INTERVALS, st.just(3600))
    | st.builds(Wait, st.just(10), st.sampled_from([math.inf, math.nan, -1, False, "3600"])),
)

#: Per argument: a strategy of valid values and one of invalid values (near misses first of all).
STRATEGIES: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "agent_id": AGENT_ID,
    "to_number": PHONE,
    "from_number": PHONE,
    "variables": VARIABLES,
    "metadata": METADATA,
    "webhook_url": WEBHOOK_URL,
    "scheduled_at": SCHEDULED_AT,
    "wait": WAIT,
}


@st.composite
def call_arguments(draw: st.DrawFn) -> tuple[dict[str, Any], set[str]]:
    """
    Every argument, and the names of those drawn invalid.

    All-valid, one-invalid and several-invalid examples are drawn about equally often.
    """
    names = list(STRATEGIES)
    how = draw(st.sampled_from(["none", "one", "several"]))
    if how == "none":
        broken: set[str] = set()
    elif how == "one":
        broken = {draw(st.sampled_from(names))}
    else:
        broken = draw(st.sets(st.sampled_from(names), min_size=2))
    arguments = {name: draw(bad if name in broken else good) for name, (good, bad) in STRATEGIES.items()}
    return arguments, broken


class TaskInstanceStub:
    """What ``execute`` reads from ``context["ti"]`` on a first try, and a record of XCom pushes."""

    dag_id = "properties"
    run_id = "manual__2030-01-01T00:00:00+00:00"
    task_id = "call"
    map_index = -1
    try_number = 1
    start_date = None

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def requests_total(sim: OneInboxSimulator) -> int:
    return int(sim.stats()["requests_total"])


def names_one_of(message: str, names: set[str]) -> bool:
    """Whether ``message`` names one of the arguments ``names`` (``wait``: poll_interval, timeout)."""
    fields = (names - {"wait"}) | ({"poll_interval", "timeout"} if "wait" in names else set())
    return any(field in message for field in fields)


@settings(
    max_examples=400,
    deadline=None,
    # The simulator is shared by all examples: each compares request counts before and after.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=call_arguments())
def test_invalid_input_never_reaches_the_api_and_valid_input_always_does(
    sim: OneInboxSimulator, drawn: tuple[dict[str, Any], set[str]]
) -> None:
    values, invalid_names = dict(drawn[0]), drawn[1]
    wait: Wait = values.pop("wait")
    before = requests_total(sim)
    calls_before = sim.calls_created()

    def build() -> OneInboxPlaceCallOperator:
        return OneInboxPlaceCallOperator(
            task_id="call", poll_interval=wait.poll_interval, timeout=wait.timeout, **values
        )

    operator, refused = outcome(build, ValueError)
    if operator is None:
        assert invalid_names & {"wait"}, f"only poll_interval/timeout are checked at construction: {refused}"
        assert names_one_of(str(refused), {"wait"}), str(refused)
        assert requests_total(sim) == before
        event("invalid: refused at construction")
        return

    ti = TaskInstanceStub()
    with operator.hook:
        result, failure = outcome(lambda: operator.execute(cast(Any, {"ti": ti})), AirflowFailException)
    sent = requests_total(sim) - before
    if invalid_names:
        assert failure is not None, f"invalid {invalid_names} was sent: {values}"
        assert sent == 0, f"invalid input reached the API ({invalid_names}): {failure}"
        assert names_one_of(str(failure), invalid_names), str(failure)
        assert "not retried" in str(failure)
        event("invalid: refused by execute before any request")
        return
    # Valid input is sent, once; only an agent id the API does not know is then refused.
    assert sent == 1
    assert (sim.requests()[-1]["method"], sim.requests()[-1]["path"]) == ("POST", "/v1/calls")
    if values["agent_id"].strip() not in SEED_AGENT_IDS:
        assert failure is not None
        assert "404" in str(failure)
        assert "Agent not found" in str(failure)
        assert sim.calls_created() == calls_before
        event("valid: sent, unknown agent refused by the API")
        return
    assert failure is None, str(failure)
    assert sim.calls_created() == calls_before + 1
    assert ti.xcoms["call_id"] == result
    event("valid: call placed")
    with OneInboxHook() as hook:
        call = hook.get_call(result)
    assert call["agent_id"] == values["agent_id"].strip()
    assert (call["to_number"], call["from_number"]) == (values["to_number"], values["from_number"])
    assert call["variables"] == _json_round_trip(values["variables"] or {})
    for key, value in (values["metadata"] or {}).items():
        if key != "airflow_idempotency_key":
            assert call["metadata"][key] == _json_round_trip(value)
    assert call["metadata"]["airflow_task_id"] == "call"
    scheduled = values["scheduled_at"]
    if scheduled is None:
        assert call["scheduled_at"] is None
    else:
        moment = scheduled if isinstance(scheduled, datetime) else datetime_fromisoformat(scheduled.strip())
        assert datetime_fromisoformat(call["scheduled_at"]) == moment


def outcome(action: Callable[[], T], *errors: type[BaseException]) -> tuple[T | None, BaseException | None]:
    """``(result, None)`` if ``action()`` returns, ``(None, error)`` if it raises one of ``errors``."""
    try:
        return action(), None
    except errors as exc:
        return None, exc


def _json_round_trip(value: Any) -> Any:
    return json.loads(json.dumps(value))


@pytest.mark.parametrize(
    "number",
    ["+1\u0664155550123", "+\uff14155550123", "+14155550123\n", "14155550123"],
    ids=["arabic_indic_digit", "fullwidth_digit", "trailing_newline", "no_plus"],
)
def test_near_miss_numbers_found_by_the_strategies_are_refused(number: str, sim: OneInboxSimulator) -> None:
    """Regression examples, kept explicit: ``\\d`` once let other scripts' digits through."""
    operator = OneInboxPlaceCallOperator(
        task_id="call", agent_id=SEED_AGENT_IDS[0], to_number=number, from_number="+14155550100"
    )
    with pytest.raises(AirflowFailException, match="'to_number'"):
        operator.execute(cast(Any, {"ti": TaskInstanceStub()}))
    assert requests_total(sim) == 0
