"""
The Python 3.10 stand-ins (``_compat``) behave as Python 3.11's standard library does.

Where the stand-in is pure Python it runs on every version, so on 3.11+ it is compared with the
standard library itself; on 3.10 the expected values are 3.11's, written out.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import threading
import types
from datetime import datetime, time, timedelta, timezone
from enum import auto
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_oneinbox import _compat
from airflow_provider_oneinbox.rules import _compat as rules_compat
from airflow_provider_oneinbox.rules.status import OneInboxCallStatus
from tests.conftest import CONN_ID, connection_json

UTC = timezone.utc
# What Python 3.11's fromisoformat reads (3.10's reads none of them but the date).
DATETIMES = {
    "2030-01-31T15:00:00Z": datetime(2030, 1, 31, 15, tzinfo=UTC),
    "2030-01-31T15:00:00.1Z": datetime(2030, 1, 31, 15, 0, 0, 100000, tzinfo=UTC),
    "2030-01-31T15:00:00.123456789Z": datetime(2030, 1, 31, 15, 0, 0, 123456, tzinfo=UTC),
    "2030-01-31T15:00:00+0100": datetime(2030, 1, 31, 15, tzinfo=timezone(timedelta(hours=1))),
    "2030-01-31T15:00:00-05": datetime(2030, 1, 31, 15, tzinfo=timezone(timedelta(hours=-5))),
    "2030-01-31 15:00Z": datetime(2030, 1, 31, 15, tzinfo=UTC),
    "2030-01-31T15Z": datetime(2030, 1, 31, 15, tzinfo=UTC),
    "20300131T150000Z": datetime(2030, 1, 31, 15, tzinfo=UTC),
    "2030-01-31T15:00:00,5+00:00": datetime(2030, 1, 31, 15, 0, 0, 500000, tzinfo=UTC),
    "2030-01-31": datetime(2030, 1, 31),
    "2030-01-31T15:00:00+05:30": datetime(2030, 1, 31, 15, tzinfo=timezone(timedelta(hours=5, minutes=30))),
}
TIMES = {
    "09:00": time(9),
    "0930": time(9, 30),
    "09": time(9),
    "T09:00": time(9),
    "09:00Z": time(9, tzinfo=UTC),
    "09:00:00.5": time(9, 0, 0, 500000),
    "09:00+01:00": time(9, tzinfo=timezone(timedelta(hours=1))),
}
REFUSAL = r"isoformat|out of range|must be in"
REFUSED = [
    "",
    "2030-01-31T24:00:00Z",
    "2030-13-01",
    "2030-01-31T15:00:00z",
    " 2030-01-31",
    "9:00",
    "tomorrow",
]


@pytest.mark.parametrize(("text", "expected"), DATETIMES.items())
def test_datetimes_read_as_python_3_11_reads_them(text: str, expected: datetime) -> None:
    for parse in (_compat.datetime_fromisoformat, rules_compat.datetime_fromisoformat_310):
        parsed = parse(text)
        assert (parsed, parsed.utcoffset()) == (expected, expected.utcoffset())


@pytest.mark.parametrize(("text", "expected"), TIMES.items())
def test_clock_times_read_as_python_3_11_reads_them(text: str, expected: time) -> None:
    assert _compat.time_fromisoformat(text) == expected
    assert rules_compat.time_fromisoformat_310(text) == expected


@pytest.mark.parametrize("text", REFUSED)
def test_what_is_no_iso_8601_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=REFUSAL):
        rules_compat.datetime_fromisoformat_310(text)
    with pytest.raises(ValueError, match=REFUSAL):
        _compat.datetime_fromisoformat(text)


_digits = st.integers(0, 99).map(lambda n: f"{n:02d}")
_fraction = st.one_of(st.just(""), st.from_regex(r"[.,][0-9]{1,9}", fullmatch=True))
_offset = st.one_of(
    st.just(""), st.just("Z"), st.from_regex(r"[+-][01][0-9](:?[0-5][0-9](:?[0-5][0-9])?)?", fullmatch=True)
)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="compares with Python 3.11's own parser")
@given(
    day=st.dates().map(lambda d: d.isoformat()),
    separator=st.sampled_from(["T", " "]),
    hour=_digits,
    rest=st.sampled_from(["", ":{m}", ":{m}:{s}", "{m}{s}", ":{m}:{s}{f}"]),
    minute=_digits,
    second=_digits,
    fraction=_fraction,
    offset=_offset,
)
def test_the_3_10_parser_agrees_with_python_3_11(
    day: str, separator: str, hour: str, rest: str, minute: str, second: str, fraction: str, offset: str
) -> None:
    text = f"{day}{separator}{hour}{rest.format(m=minute, s=second, f=fraction)}{offset}"
    outcomes: list[Any] = []
    for parse in (datetime.fromisoformat, rules_compat.datetime_fromisoformat_310):
        try:
            parsed: Any = parse(text)
            outcomes.append((parsed, parsed.utcoffset()))
        except ValueError:
            outcomes.append("refused")
    assert outcomes[0] == outcomes[1], text


def test_str_enum_members_print_as_their_values() -> None:
    status = OneInboxCallStatus.COMPLETED
    assert (str(status), f"{status}", f"{status:>10}", "%s" % status) == (  # noqa: UP031
        "completed",
        "completed",
        " completed",
        "completed",
    )
    assert json.dumps({status: status}) == '{"completed": "completed"}'
    assert repr(status) == "<OneInboxCallStatus.COMPLETED: 'completed'>"
    assert OneInboxCallStatus("completed") is status
    assert status == "completed"


def test_str_enum_auto_values_are_lower_case_names() -> None:
    class Colour(_compat.StrEnum):
        DEEP_RED = auto()

    assert Colour.DEEP_RED.value == "deep_red"
    assert f"{Colour.DEEP_RED}" == "deep_red"


def test_a_timeout_without_deadline_is_rescheduled_and_expires() -> None:
    async def scenario() -> tuple[float | None, float | None, bool, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        timer = _compat.timeout(None)
        try:
            async with timer:
                unset = timer.when()
                timer.reschedule(started + 0.05)
                when = timer.when()
                await asyncio.sleep(5)
        except _compat.TIMEOUT_ERRORS:
            pass
        else:
            raise AssertionError("the block outlived its deadline")
        with pytest.raises(RuntimeError):
            timer.reschedule(None)
        return unset, when, timer.expired(), loop.time() - started

    unset, when, expired, took = asyncio.run(scenario())
    assert unset is None
    assert when is not None
    assert expired
    assert 0.04 <= took < 2


def test_a_deadline_removed_with_reschedule_none_lets_the_block_finish() -> None:
    async def scenario() -> tuple[str, bool]:
        async with _compat.timeout(0.05) as timer:
            timer.reschedule(None)
            await asyncio.sleep(0.15)
            timer.reschedule(asyncio.get_running_loop().time() + 10)
            await asyncio.sleep(0.01)
        return "finished", timer.expired()

    assert asyncio.run(scenario()) == ("finished", False)


def test_a_timed_out_wait_for_is_one_of_the_timeout_errors() -> None:
    async def scenario() -> None:
        await asyncio.wait_for(asyncio.sleep(5), 0.01)

    with pytest.raises(_compat.TIMEOUT_ERRORS):
        asyncio.run(scenario())


def test_the_async_connection_lookup_kept_for_old_common_compat(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a common-compat that lacks them (Python 3.10 gets 1.20), the provider's own are used."""
    import airflow_provider_oneinbox.hooks._async_connection as lookup
    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

    old = types.ModuleType("airflow.providers.common.compat.connection")
    monkeypatch.setitem(sys.modules, "airflow.providers.common.compat.connection", old)
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json("http://127.0.0.1:9", max_retries=2)
    )
    fallback = importlib.reload(lookup)
    try:
        assert fallback.get_async_connection.__module__ == lookup.__name__
        loop_thread: list[int] = []
        real_get_connection = OneInboxAsyncHook.get_connection.__func__  # type: ignore[attr-defined]

        def guarded(cls: type, *args: object, **kwargs: object) -> object:
            assert threading.get_ident() not in loop_thread, "sync get_connection called on the event loop"
            return real_get_connection(cls, *args, **kwargs)

        monkeypatch.setattr(OneInboxAsyncHook, "get_connection", classmethod(guarded))

        async def read() -> tuple[str | None, dict[str, Any]]:
            loop_thread.append(threading.get_ident())
            conn = await fallback.get_async_connection(CONN_ID, hook=OneInboxAsyncHook())
            return conn.host, await fallback.get_async_extra_dejson(conn)

        host, extra = asyncio.run(read())
        assert host == "http://127.0.0.1:9"
        assert extra["max_retries"] == 2
    finally:
        monkeypatch.undo()
        importlib.reload(lookup)
    installed = importlib.import_module("airflow.providers.common.compat.connection")
    if hasattr(installed, "get_async_extra_dejson"):  # common-compat >= 1.23: its own again
        assert lookup.get_async_connection is installed.get_async_connection
