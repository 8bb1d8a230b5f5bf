"""The export writes through any fsspec filesystem: a URL fsspec knows, or an ObjectStoragePath."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tests.helpers.exports import instant, lines_of, run_export
from tests.helpers.simulator_api import create_call, get_call


def one_ended_call(sim: Any) -> tuple[dict[str, Any], Any, Any]:
    call = create_call(sim, "+14155551010")
    sim.advance(60)
    ended = instant(get_call(sim, call["id"])["ended_at"])
    return call, ended.replace(microsecond=0), ended.replace(year=ended.year + 1)


def test_a_memory_url_goes_through_fsspec_and_matches_the_local_file(frozen: Any, tmp_path: Path) -> None:
    import fsspec

    call, start, end = one_ended_call(frozen)
    local = run_export(f"file://{tmp_path}/calls.jsonl", start, end)
    result = run_export("memory://exports/day=1/calls.jsonl", start, end)

    data = fsspec.filesystem("memory").cat("/exports/day=1/calls.jsonl")
    assert data == (tmp_path / "calls.jsonl").read_bytes()
    assert [line["id"] for line in lines_of(tmp_path / "calls.jsonl")] == [call["id"]]
    assert result["path"] == "memory://exports/day=1/calls.jsonl"
    assert (result["bytes"], result["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert result["sha256"] == local["sha256"]


def test_an_object_storage_path_is_written_through_its_filesystem(frozen: Any, tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    call, start, end = one_ended_call(frozen)
    target = ObjectStoragePath(f"file://{tmp_path}/osp/calls.jsonl")
    result = run_export(target, start, end)
    assert [line["id"] for line in lines_of(tmp_path / "osp" / "calls.jsonl")] == [call["id"]]
    assert result["calls"] == 1
    assert sorted(p.name for p in (tmp_path / "osp").iterdir()) == ["calls.jsonl"]


def test_a_password_in_the_path_is_never_shown() -> None:
    from airflow_provider_oneinbox.export.destination import Destination, shown

    assert shown("s3://AKIA:s3cr3t@bucket/calls.jsonl") == "s3://AKIA:***@bucket/calls.jsonl"
    assert shown("file:///tmp/calls.jsonl") == "file:///tmp/calls.jsonl"
    assert "s3cr3t" not in repr(Destination(None, "/x", "sftp://me:s3cr3t@host:22/x.jsonl"))


def test_recordings_go_beside_the_file_on_any_filesystem(frozen: Any) -> None:
    import fsspec

    from airflow_provider_oneinbox.simulator.recordings import recording_sha256

    call = create_call(frozen, "+14155551001")
    frozen.advance(60)
    ended = instant(get_call(frozen, call["id"])["ended_at"]).replace(microsecond=0)
    later = ended.replace(year=ended.year + 1)
    result = run_export("memory://rec/calls.jsonl", ended, later, recordings=True)

    memory = fsspec.filesystem("memory")
    audio = memory.cat(f"/rec/recordings/{call['id']}.mp3")
    assert hashlib.sha256(audio).hexdigest() == recording_sha256(call["id"], frozen.options.recording_bytes)
    assert f'"path":"recordings/{call["id"]}.mp3"'.encode() in memory.cat("/rec/calls.jsonl")
    assert result["recordings"] == 1
