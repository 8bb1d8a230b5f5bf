"""Recordings archived beside the export: streamed, refreshed once expired, never with the key."""

from __future__ import annotations

import hashlib
import logging
import time
import tracemalloc
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_oneinbox.hooks.recordings import RecordingDownloadError, RecordingLinkExpiredError
from airflow_provider_oneinbox.simulator.recordings import recording_sha256
from tests.conftest import TEST_API_KEY
from tests.helpers.exports import instant, leftovers, lines_of, run_export
from tests.helpers.hostile import HostileServer, Peer, RawRequest, serve_forever
from tests.helpers.simulator_api import create_call, get_call

BOOKED = "+14155551001"
NO_ANSWER = "+14155551002"  # never answered: no recording


def ended_calls(sim: Any, *numbers: str) -> tuple[list[dict[str, Any]], Any, Any]:
    calls = [create_call(sim, number) for number in numbers]
    sim.advance(60)
    records = [get_call(sim, call["id"]) for call in calls]
    first = min(instant(r["ended_at"]) for r in records).replace(microsecond=0)
    return records, first, first.replace(year=first.year + 1)


def archiver(tmp_path: Path, **options: Any) -> Any:
    from airflow_provider_oneinbox.export.archive import RecordingArchiver
    from airflow_provider_oneinbox.export.destination import Destination
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

    settings = {"max_bytes": 10**9, "timeout": 30.0, "verify": True, **options}
    destination = Destination.of(f"file://{tmp_path}/calls.jsonl")
    return RecordingArchiver(OneInboxHook(), destination, log=logging.getLogger("t"), **settings)


def test_recordings_are_streamed_beside_the_file_with_their_checksum(
    frozen: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (booked, missed), start, end = ended_calls(frozen, BOOKED, NO_ANSWER)
    target = tmp_path / "calls.jsonl"
    caplog.set_level(logging.DEBUG)

    result = run_export(str(target), start, end, recordings=True)

    size = frozen.options.recording_bytes
    audio = tmp_path / "recordings" / f"{booked['id']}.mp3"
    assert hashlib.sha256(audio.read_bytes()).hexdigest() == recording_sha256(booked["id"], size)
    lines = {line["id"]: line for line in lines_of(target)}
    assert lines[booked["id"]]["recording"] == {
        "path": f"recordings/{booked['id']}.mp3",
        "bytes": size,
        "sha256": recording_sha256(booked["id"], size),
    }
    assert lines[missed["id"]]["recording"] is None
    assert result["recordings"] == 1
    assert sorted(p.name for p in (tmp_path / "recordings").iterdir()) == [audio.name]
    served = frozen.recording_requests()
    assert [r for r in served if "authorization" in r] == [{"authorization": False}]
    signature = urlsplit(booked["recording_url"]).query
    for text in (caplog.text, target.read_text(), str(result)):
        assert TEST_API_KEY not in text
        assert "signature" not in text
        assert signature not in text

    content = target.read_bytes()
    frozen.advance(5)
    assert run_export(str(target), start, end, recordings=True) == result
    assert target.read_bytes() == content


def test_a_large_recording_streams_in_constant_memory(frozen: Any, tmp_path: Path) -> None:
    size = 60 * 1024 * 1024
    frozen.configure(recording_bytes=size)
    (booked,), start, end = ended_calls(frozen, BOOKED)

    tracemalloc.start()
    try:
        run_export(str(tmp_path / "calls.jsonl"), start, end, recordings=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    audio = tmp_path / "recordings" / f"{booked['id']}.mp3"
    assert audio.stat().st_size == size
    (line,) = lines_of(tmp_path / "calls.jsonl")
    assert line["recording"]["sha256"] == recording_sha256(booked["id"], size)
    assert peak < 12 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB while streaming {size / 2**20:.0f} MiB"


def test_an_expired_link_is_refreshed_by_reading_the_call_once(frozen: Any, tmp_path: Path) -> None:
    (booked,), _, _ = ended_calls(frozen, BOOKED)
    frozen.advance(5 * 3600)  # the link read above has expired on the simulated clock
    reads = len(frozen.requests(path_prefix=f"/v1/calls/{booked['id']}"))

    recording = archiver(tmp_path).archive(booked)

    assert recording["sha256"] == recording_sha256(booked["id"], frozen.options.recording_bytes)
    statuses = [r["status"] for r in frozen.recording_requests() if "status" in r]
    assert statuses == [403, 200]
    assert len(frozen.requests(path_prefix=f"/v1/calls/{booked['id']}")) - reads == 1


def test_a_link_whose_expiry_is_past_is_refreshed_before_any_download(frozen: Any, tmp_path: Path) -> None:
    (booked,), _, _ = ended_calls(frozen, BOOKED)
    stale = {**booked, "recording_url": booked["recording_url"].replace("expires=", "expires=1")}
    stale["recording_url"] = stale["recording_url"].split("expires=1")[0] + "expires=1000&signature=x"

    archiver(tmp_path).archive(stale)

    assert [r["status"] for r in frozen.recording_requests() if "status" in r] == [200]


def storage(behaviour: Any) -> HostileServer:
    return HostileServer(behaviour, lifetime=30)


def test_the_api_key_never_reaches_the_recording_host(frozen: Any, tmp_path: Path) -> None:
    body = b"\x00fake-mp3" * 1000

    def host(peer: Peer, _index: int) -> None:
        serve_forever(peer, lambda request: peer.respond(200, body, {"Content-Type": "audio/mpeg"}))

    with storage(host) as server:
        frozen.configure(recording_base_url=server.base_url)
        (booked,), start, end = ended_calls(frozen, BOOKED)
        run_export(str(tmp_path / "calls.jsonl"), start, end, recordings=True)
    (request,) = server.requests
    assert request.path == f"/_recordings/{booked['id']}.mp3"
    assert "authorization" not in request.headers
    assert TEST_API_KEY not in repr(request)
    assert (tmp_path / "recordings" / f"{booked['id']}.mp3").read_bytes() == body


def refusing(peer: Peer, _index: int) -> None:
    serve_forever(peer, lambda request: peer.respond(403, b"<Error>AccessDenied</Error>"))


def cut_midway(peer: Peer, _index: int) -> None:
    def answer(request: RawRequest) -> bool:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\nContent-Length: 1000000\r\n\r\n"
        peer.send(head + b"x" * 5000)
        peer.close()
        return False

    serve_forever(peer, answer)


def dripping(peer: Peer, _index: int) -> None:
    def answer(request: RawRequest) -> bool:
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
        peer.drip(b"x" * 100_000, 0.01)
        return False

    serve_forever(peer, answer)


@pytest.mark.parametrize(
    ("behaviour", "error", "options"),
    [
        (refusing, RecordingLinkExpiredError, {}),
        (cut_midway, RecordingDownloadError, {}),
        (dripping, RecordingDownloadError, {"recordings_timeout": 1.0}),
        (cut_midway, RecordingDownloadError, {"recording_max_bytes": 1000}),
    ],
)
def test_a_failed_recording_leaves_the_previous_export_and_no_partial_file(
    frozen: Any, tmp_path: Path, behaviour: Any, error: type[Exception], options: dict[str, Any]
) -> None:
    target = tmp_path / "calls.jsonl"
    target.write_bytes(b"previous\n")
    with storage(behaviour) as server:
        host = f"127.0.0.1:{server.port}"
        frozen.configure(recording_base_url=server.base_url)
        _, start, end = ended_calls(frozen, BOOKED)
        began = time.monotonic()
        with pytest.raises(error) as raised:
            run_export(str(target), start, end, recordings=True, **options)
    assert time.monotonic() - began < 10
    assert "127.0.0.1" in str(raised.value)  # names the host, not the link
    assert host not in str(raised.value)
    assert "signature" not in str(raised.value)
    assert target.read_bytes() == b"previous\n"
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "recordings").exists() or list((tmp_path / "recordings").iterdir()) == []
    if behaviour is refusing:
        assert len(server.requests) == 2  # the link, then the one refreshed by reading the call
