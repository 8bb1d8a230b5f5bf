"""The one readiness rule and the result it builds, over every record shape the API reference allows."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_oneinbox.results import build_call_result, post_call_data_ready

UNANALYSED = [
    {"analysis": {}, "messages": []},
    {"analysis": {"outcome": None, "summary": None}, "messages": []},
    {"analysis": None, "messages": []},
    {"analysis": {"outcome": None, "summary": "  "}, "messages": [], "transcript": ""},
    {"analysis": {"outcome": None, "summary": None}, "messages": [], "transcript": []},
    {},  # fields left out altogether
]
ANALYSED = [
    {"analysis": {"outcome": "Interested", "summary": "Wants a demo."}, "messages": []},
    {"analysis": {"outcome": None, "summary": "Too short to tell."}, "messages": []},  # outcome may stay null
    {"analysis": {}, "messages": [{"role": "agent", "content": "Hello"}]},
    {"analysis": None, "messages": [{"content": "a message without a role"}]},
    {"analysis": None, "messages": [], "transcript": "agent: Hello"},
    {"analysis": {}, "messages": [], "transcript": [{"role": "user", "content": "Hi"}]},
]


@pytest.mark.parametrize("status", ["completed", "failed"])
@pytest.mark.parametrize("record", UNANALYSED)
def test_an_ended_call_without_post_call_content_is_not_ready(status: str, record: dict[str, Any]) -> None:
    assert not post_call_data_ready({"status": status, **record})


@pytest.mark.parametrize("status", ["completed", "failed"])
@pytest.mark.parametrize("record", ANALYSED)
def test_an_ended_call_with_any_post_call_content_is_ready(status: str, record: dict[str, Any]) -> None:
    assert post_call_data_ready({"status": status, **record})


@pytest.mark.parametrize("status", ["queued", "initiated", "in_progress", "ringing", None])
@pytest.mark.parametrize("record", ANALYSED)
def test_a_running_call_is_never_ready(status: str | None, record: dict[str, Any]) -> None:
    assert not post_call_data_ready({"status": status, **record})


@pytest.mark.parametrize("record", UNANALYSED)
def test_the_result_never_carries_an_empty_analysis(record: dict[str, Any]) -> None:
    result = build_call_result({"id": "c", "status": "completed", **record}, analysis_missing=True)
    assert (result["analysis"], result["outcome"], result["summary"]) == (None, None, None)
    assert (result["messages"], result["transcript"], result["analysis_missing"]) == ([], "", True)


def test_string_and_list_transcripts_and_role_less_messages_are_normalised() -> None:
    as_list = build_call_result(
        {"transcript": [{"role": "agent", "content": "Hello"}, {"content": "Who is this?"}, "Bye"]}
    )
    assert as_list["messages"] == [
        {"role": "agent", "content": "Hello"},
        {"role": None, "content": "Who is this?"},
        {"role": None, "content": "Bye"},
    ]
    assert as_list["transcript"] == "Agent: Hello\nWho is this?\nBye"
    as_string = build_call_result({"messages": [], "transcript": "agent: Hello\nuser: Hi\n"})
    assert (as_string["messages"], as_string["transcript"]) == ([], "agent: Hello\nuser: Hi")
    preferred = build_call_result(
        {"messages": [{"role": "user", "content": "Hi"}], "transcript": "something else"}
    )
    assert preferred["transcript"] == "User: Hi"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(suppress_health_check=[HealthCheck.too_slow])  # a shared, busy machine
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "status": JSON,
            "analysis": JSON,
            "messages": JSON,
            "transcript": JSON,
            "outcome": JSON,
            "ai_summary": JSON,
        },
    )
)
def test_no_record_shape_crashes_the_rule_or_the_result(record: dict[str, Any]) -> None:
    ready = post_call_data_ready(record)
    result = build_call_result(record)
    assert isinstance(ready, bool)
    assert isinstance(result["transcript"], str)
    assert all(isinstance(m["content"], str) for m in result["messages"])
    assert result["analysis"] is None or isinstance(result["analysis"], dict)
