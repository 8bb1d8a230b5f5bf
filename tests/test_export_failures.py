"""The export fails loudly and leaves nothing partial: bad input, endless pages, a walk cut off."""

from __future__ import annotations

import itertools
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oneinbox._compat import UTC
from airflow_provider_oneinbox.exceptions import (
    OneInboxAuthError,
    OneInboxInputError,
    OneInboxPaginationError,
)
from tests.helpers.exports import leftovers, run_export
from tests.helpers.hostile import Peer, RawRequest, hostile_connection, serve_forever

PAGES = itertools.count()
NOW = datetime.now(UTC).replace(microsecond=0)
START, END = NOW - timedelta(days=1), NOW


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def record(n: int, ended: datetime) -> dict[str, Any]:
    return {
        "id": f"call_{n:06d}",
        "agent_id": "agt_sales",
        "direction": "outbound",
        "status": "completed",
        "created_at": iso(ended - timedelta(seconds=30)),
        "ended_at": iso(ended),
    }


def endless(peer: Peer, _index: int) -> None:
    """Every page holds new calls of the interval and promises more."""

    def answer(request: RawRequest) -> bool:
        n = next(PAGES)
        items = [record(n * 10 + i, END - timedelta(minutes=n)) for i in range(10)]
        return peer.respond(200, {"items": items, "next_cursor": f"c{n}", "has_more": True, "limit": 100})

    serve_forever(peer, answer)


def cut_after_one_page(peer: Peer, _index: int) -> None:
    """A good first page, then the key is refused (401: never retried)."""

    def answer(request: RawRequest) -> bool:
        if "cursor=" not in request.target:
            items = [record(1, END - timedelta(hours=1))]
            return peer.respond(200, {"items": items, "next_cursor": "c1", "has_more": True, "limit": 100})
        return peer.respond(401, {"detail": "Invalid API key"})

    serve_forever(peer, answer)


def staging_files() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("oneinbox-export-*.part")}


@pytest.fixture
def own_temp_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """
    A temporary directory of this test's own for the export's staging files: another pytest-xdist
    worker exporting at the same time stages its files in the shared one.
    """
    staging = tmp_path / "tmp"
    staging.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging))
    return staging


def test_a_list_whose_pages_never_end_fails_at_max_pages_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = tmp_path / "calls.jsonl"
    with (
        hostile_connection(monkeypatch, endless) as server,
        pytest.raises(OneInboxPaginationError, match="max_pages") as raised,
    ):
        run_export(str(target), START, END, max_pages=3)
    assert "nothing was written" in str(raised.value)
    assert len(server.requests) == 3
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("storage", ["file", "memory"])
def test_a_walk_cut_off_midway_leaves_the_previous_file_intact_and_no_staging_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, storage: str, own_temp_dir: Path
) -> None:
    import fsspec

    memory = fsspec.filesystem("memory")
    url = f"file://{tmp_path}/calls.jsonl" if storage == "file" else "memory://cut/calls.jsonl"
    with fsspec.open(url, "wb") as out:
        out.write(b'{"previous": "export"}\n')
    staged_before = staging_files()
    with hostile_connection(monkeypatch, cut_after_one_page) as server, pytest.raises(OneInboxAuthError):
        run_export(url, START, END)
    assert len(server.requests) == 2
    with fsspec.open(url, "rb") as previous:
        assert previous.read() == b'{"previous": "export"}\n'
    assert leftovers(tmp_path) == []
    assert staging_files() == staged_before
    if storage == "memory":
        assert memory.ls("/cut", detail=False) == ["/cut/calls.jsonl"]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"path": "exports/calls.jsonl"}, "path"),
        ({"path": "file:///tmp/exports/"}, "path"),
        ({"path": "nosuchscheme://bucket/calls.jsonl"}, "path"),
        ({"path": "file:///tmp/{{ ds }}/calls.jsonl"}, "path"),
        ({"start": END, "end": START}, "interval_end"),
        ({"start": "2026-01-01T00:00:00"}, "interval_start"),
        ({"start": "yesterday"}, "interval_start"),
        ({"direction": "sideways"}, "direction"),
        ({"agent_ids": "agt_sales"}, "agent_ids"),
        ({"agent_ids": ["agt_sales", "agt_sales"]}, "agent_ids"),
        ({"statuses": []}, "statuses"),
        ({"created_margin": 0}, "created_margin"),
        ({"max_pages": 0}, "max_pages"),
        ({"analysis_grace": -1}, "analysis_grace"),
        ({"recordings": "yes"}, "recordings"),
    ],
)
def test_bad_input_fails_naming_the_field_before_any_request(
    sim: Any, tmp_path: Path, arguments: dict[str, Any], field: str
) -> None:
    options = {"path": f"file://{tmp_path}/calls.jsonl", "start": START, "end": END, **arguments}
    with pytest.raises(OneInboxInputError) as raised:
        run_export(options.pop("path"), options.pop("start"), options.pop("end"), **options)
    assert raised.value.field == field
    assert sim.requests() == []
    assert list(tmp_path.iterdir()) == []
