"""
Where a wait's CPU and memory go: each building block of a trigger's wait, measured alone.

Every operation runs ``--count`` times in a fresh interpreter (so no run inherits another's heap), against
the simulator in its own process over HTTPS; CPU is ``time.process_time`` (every thread) per operation,
memory is the resident-set growth per object *held* (after ``gc.collect``), e.g. per open TLS connection.

``python -m benchmarks.cost_breakdown [--count 1000] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CONN_ID = "oneinbox_bench"

#: name → what it measures (per operation).
OPERATIONS: dict[str, str] = {
    "ssl_context": "ssl.create_default_context(cafile=CA), held (the hook builds one per session)",
    "connection_lookup": "get_async_connection + get_async_extra_dejson (Airflow's async connection lookup)",
    "tls_connection": "aiohttp session + TCP connect + TLS handshake + 1 GET (shared SSL context), held open",
    "hook_enter": "OneInboxAsyncHook: async with + first get_call, held open (what each trigger does once)",
    "poll_raw": "GET /v1/calls/{id} + json.loads with plain aiohttp on a keep-alive connection",
    "poll_hook": "OneInboxAsyncHook.get_call on a keep-alive connection (retry loop, decoding, errors)",
    "idle_portal": "a task with the triggerer's greenback portal, sleeping (the triggerer's own cost)",
}


def _rss() -> int:
    from benchmarks.wait_worker import rss_bytes

    return rss_bytes()


async def _measure(operation: str, count: int, base_url: str, ca: str, call_id: str) -> dict[str, float]:
    import aiohttp
    import greenback

    from airflow_provider_oneinbox.hooks._async_connection import get_async_connection, get_async_extra_dejson
    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

    url = f"{base_url}/v1/calls/{call_id}"
    headers = {"Authorization": "Bearer oi_sk_simulator"}
    shared = ssl.create_default_context(cafile=ca)
    held: list[Any] = []

    async def raw_get(session: aiohttp.ClientSession) -> Any:
        async with session.get(url) as response:
            return json.loads(await response.read())

    # Warm up every path once, so first-use imports and caches are not billed to the operation.
    warm = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=shared), headers=headers)
    await raw_get(warm)
    async with OneInboxAsyncHook(CONN_ID) as hook:
        await hook.get_call(call_id)
    await get_async_extra_dejson(await get_async_connection(CONN_ID))

    repeat = 1
    if operation in ("poll_raw", "poll_hook"):
        sessions = 50
        repeat = max(1, count // sessions)
        if operation == "poll_raw":
            clients: list[Any] = [
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=shared), headers=headers)
                for _ in range(sessions)
            ]
            await asyncio.gather(*(raw_get(c) for c in clients))
        else:
            clients = [await OneInboxAsyncHook(CONN_ID).__aenter__() for _ in range(sessions)]
            await asyncio.gather(*(c.get_call(call_id) for c in clients))
        count = repeat * sessions

    gc.collect()
    rss0, cpu0 = _rss(), time.process_time()
    if operation == "ssl_context":
        held = [ssl.create_default_context(cafile=ca) for _ in range(count)]
    elif operation == "connection_lookup":
        for _ in range(count):
            await get_async_extra_dejson(await get_async_connection(CONN_ID))
    elif operation == "tls_connection":
        for _ in range(count):
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=shared), headers=headers)
            await raw_get(session)
            held.append(session)
    elif operation == "hook_enter":
        for _ in range(count):
            hook = await OneInboxAsyncHook(CONN_ID).__aenter__()
            await hook.get_call(call_id)
            held.append(hook)
    elif operation == "poll_raw":
        for _ in range(repeat):
            await asyncio.gather(*(raw_get(c) for c in clients))
    elif operation == "poll_hook":
        for _ in range(repeat):
            await asyncio.gather(*(c.get_call(call_id) for c in clients))
    elif operation == "idle_portal":
        stop = asyncio.Event()

        async def idle() -> None:
            await greenback.ensure_portal()
            await stop.wait()

        held = [asyncio.create_task(idle()) for _ in range(count)]
        await asyncio.sleep(0.5)
    cpu = time.process_time() - cpu0
    gc.collect()
    rss = _rss() - rss0
    if operation == "idle_portal":
        stop.set()
        await asyncio.gather(*held)
    for item in held:
        close = getattr(item, "close", None)
        if close is not None and asyncio.iscoroutinefunction(close):
            await close()
    if operation in ("poll_raw", "poll_hook"):
        for client in clients:
            await client.close()
    await warm.close()
    return {"cpu_us": cpu / count * 1e6, "rss_kb": rss / count / 1024, "count": count}


def _child(args: argparse.Namespace) -> int:
    result = asyncio.run(_measure(args.operation, args.count, args.base_url, args.ca, args.call_id))
    print(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Start a simulator, measure every operation in its own interpreter, print and write the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cost_breakdown", description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="operations per measurement")
    parser.add_argument(
        "--json", default=str(RESULTS / "cost_breakdown.json"), help="where to write the results"
    )
    parser.add_argument("--operation", help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    parser.add_argument("--call-id", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.operation:
        return _child(args)

    from benchmarks.simulator_process import SimulatorProcess
    from benchmarks.wait_benchmark import worker_env

    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    with SimulatorProcess(speed=1e-6) as sim:
        call_id = sim.create_calls(1, "+14155550120", "+14155550100")[0]["id"]
        env = worker_env(sim, "ours")
        for operation, what in OPERATIONS.items():
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.cost_breakdown",
                    f"--operation={operation}",
                    f"--count={args.count}",
                    f"--base-url={sim.base_url}",
                    f"--ca={sim.ca_cert_path}",
                    f"--call-id={call_id}",
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"{operation} failed:\n{proc.stderr[-3000:]}")
            results[operation] = {**json.loads(proc.stdout.strip().splitlines()[-1]), "what": what}
            row = results[operation]
            print(
                f"{operation:<18} {row['cpu_us']:8.0f} µs CPU  {row['rss_kb']:7.1f} KB held   {what}",
                flush=True,
            )
    Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
