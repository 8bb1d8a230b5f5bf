"""
Recordings: the simulator serves each call's signed ``recording_url`` itself.

A real call's ``recording_url`` is a signed link on a storage host, valid about four hours, fetched
without the API key. The simulator's link points at its own ``/_recordings/{call_id}.mp3`` (or at
``recording_base_url`` when that option is set), needs no ``Authorization`` header, checks the
signature and the expiry against the simulated clock (403 once expired or forged, 404 for a call
without a recording) and streams deterministic bytes: the same call id always gives the same
``recording_bytes`` bytes, generated chunk by chunk so a large recording costs no memory.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from airflow_provider_oneinbox.simulator.context import Simulation

#: Bytes per generated chunk.
CHUNK_BYTES = 64 * 1024
#: The route's prefix (outside ``/v1``: no API key, like a storage host).
RECORDINGS_PREFIX = "/_recordings"


def recording_chunks(call_id: str, size: int) -> Iterator[bytes]:
    """
    The recording of ``call_id``: ``size`` deterministic bytes, in chunks of :data:`CHUNK_BYTES`.

    :param call_id: The call's id (the seed).
    :param size: Total bytes.
    """
    sent, index = 0, 0
    while sent < size:
        block = hashlib.sha256(f"recording:{call_id}:{index}".encode()).digest()
        chunk = (block * (CHUNK_BYTES // len(block)))[: min(CHUNK_BYTES, size - sent)]
        yield chunk
        sent += len(chunk)
        index += 1


def recording_sha256(call_id: str, size: int) -> str:
    """The sha256 of :func:`recording_chunks` (what a client must compute while streaming)."""
    digest = hashlib.sha256()
    for chunk in recording_chunks(call_id, size):
        digest.update(chunk)
    return digest.hexdigest()


def build_recordings_router(sim: Simulation) -> APIRouter:
    """``GET /_recordings/{call_id}.mp3?expires=&signature=``, bound to one simulation."""
    router = APIRouter(prefix=RECORDINGS_PREFIX, tags=["recordings"])
    store = sim.store

    def refuse(status: int, detail: str) -> JSONResponse:
        store.recording_log.append({"status": status})
        return JSONResponse({"detail": detail}, status_code=status)

    @router.get("/{name}")
    async def download(name: str, request: Request, expires: str = "", signature: str = "") -> Any:
        authorization = request.headers.get("authorization") is not None
        store.recording_log.append({"authorization": authorization})
        call_id, dot, ext = name.rpartition(".")
        call = store.calls.get(call_id) if dot and ext == "mp3" else None
        if call is None or not call.enable_recording or call.answered_at is None:
            return refuse(404, "Recording not found")
        if not expires.isdigit() or not hmac.compare_digest(signature, call.signature(int(expires))):
            return refuse(403, "Invalid signature")
        now = store.clock.to_datetime(store.clock.now()).timestamp()
        if now >= int(expires):
            return refuse(403, "Request has expired")
        size = store.options.recording_bytes
        store.recording_log.append({"status": 200, "call_id": call_id})
        headers = {"content-length": str(size), "cache-control": "private"}
        return StreamingResponse(recording_chunks(call_id, size), media_type="audio/mpeg", headers=headers)

    return router
