"""``python -m airflow_provider_oneinbox.simulator``: run the OneInbox simulator until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from airflow_provider_oneinbox.simulator.extra import SimulatorNotInstalledError, require_simulator_extra
from airflow_provider_oneinbox.simulator.scenarios import scenarios_table

_EPILOG = f"""\
scenarios, chosen by the last two digits of to_number:
{scenarios_table()}

faults apply to /v1 requests only (never to /_sim); change them at runtime with
  curl -X POST URL/_sim/faults -H 'Content-Type: application/json' -d '{{"rate_limit_ratio": 0.2}}'
and clear them with DELETE URL/_sim/faults. Other admin endpoints: GET /_sim/stats, GET /_sim/requests,
POST /_sim/reset, POST /_sim/advance {{"seconds": s}}, GET/POST /_sim/configure (speed, analysis_delay
and every option above, e.g. {{"post_call_shape": "empty"}}), interactive docs /_sim/docs.
"""


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (needs the ``simulator`` extra, for the default key)."""
    from airflow_provider_oneinbox.simulator.core import DEFAULT_API_KEY

    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_oneinbox.simulator",
        description="A local fake of the OneInbox voice-AI API (no account, no network).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8765, help="port, 0 for a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--api-key", default=DEFAULT_API_KEY, help="accepted bearer key (default: %(default)s)"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second (default: %(default)s)"
    )
    parser.add_argument(
        "--analysis-delay",
        type=float,
        default=3.0,
        help="simulated seconds from a call's end to its post-call data (default: %(default)s)",
    )
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a generated self-signed CA")
    shapes = parser.add_argument_group(
        "shapes, ids, quota, limits and inbound traffic (defaults follow the reference)"
    )
    shapes.add_argument(
        "--post-call-shape",
        choices=["nulls", "empty", "null"],
        default="nulls",
        help='analysis before post-call processing: nulls = {"outcome": null, "summary": null}, '
        "empty = {}, null = null (default: %(default)s)",
    )
    shapes.add_argument(
        "--transcript-shape",
        choices=["string", "list"],
        default="string",
        help="transcript as the deprecated string or as [{role, content}] (default: %(default)s)",
    )
    shapes.add_argument(
        "--id-style",
        choices=["uuid", "prefixed"],
        default="uuid",
        help="uuid ids (a malformed path id gets a 422) or prefixed ones like call_... (default: "
        "%(default)s); the seeded agents keep agt_sales, agt_support, agt_survey",
    )
    shapes.add_argument(
        "--max-calls-per-day",
        type=int,
        default=None,
        help="daily quota of POST /v1/calls, reset 00:00 UTC of the simulated clock (default: unlimited)",
    )
    shapes.add_argument(
        "--quota-status",
        type=int,
        choices=[429, 403],
        default=429,
        help="status of a create past the quota, code DAILY_CALL_LIMIT_REACHED (default: %(default)s)",
    )
    shapes.add_argument(
        "--max-calls-per-second",
        type=int,
        default=None,
        help="POST /v1/calls accepted per rolling simulated second, workspace-wide; past it 429 "
        "RATE_LIMITED with Retry-After (default: off)",
    )
    shapes.add_argument(
        "--max-concurrent-calls",
        type=int,
        default=None,
        help="live calls per agent; a create past it gets 429 CONCURRENCY_LIMIT_REACHED with "
        "Retry-After (default: off)",
    )
    shapes.add_argument(
        "--inbound-per-minute",
        type=float,
        default=0.0,
        help="inbound calls per registered number per simulated minute (default: %(default)s = off)",
    )
    shapes.add_argument(
        "--recording-bytes",
        type=int,
        default=64 * 1024,
        help="size of every recording served at /_recordings/ (default: %(default)s)",
    )
    shapes.add_argument(
        "--recording-base-url",
        default=None,
        help="base URL recording links point at (default: the simulator's own, which serves them; "
        "set it when clients reach the simulator by another name than --host)",
    )
    faults = parser.add_argument_group("faults (all off by default)")
    ratio = "share (0..1) of /v1 requests "
    faults.add_argument("--rate-limit-ratio", type=float, default=0.0, help=ratio + "answered 429")
    faults.add_argument("--rate-limit-burst", type=int, default=0, help="the next N requests answered 429")
    faults.add_argument("--retry-after", type=float, default=1.0, help="Retry-After seconds sent with a 429")
    faults.add_argument("--server-error-ratio", type=float, default=0.0, help=ratio + "answered 503")
    faults.add_argument("--server-error-burst", type=int, default=0, help="the next N requests answered 500")
    faults.add_argument("--latency", type=float, default=0.0, help="real seconds added before each response")
    faults.add_argument("--drop-ratio", type=float, default=0.0, help=ratio + "whose connection is dropped")
    faults.add_argument("--drop-burst", type=int, default=0, help="the next N requests' connections dropped")
    faults.add_argument(
        "--lose-create-response",
        type=int,
        default=0,
        help="the next N POST /v1/calls create the call, then drop the connection with no response",
    )
    faults.add_argument(
        "--lose-create-response-ratio", type=float, default=0.0, help="share of POST /v1/calls doing the same"
    )
    faults.add_argument(
        "--only-path",
        action="append",
        dest="only_paths",
        help="fault only paths with this prefix (repeatable)",
    )
    faults.add_argument(
        "--only-route",
        action="append",
        dest="only_routes",
        help="fault only this route template, e.g. /v1/calls/{call_id} (repeatable)",
    )
    faults.add_argument(
        "--only-method", action="append", dest="only_methods", help="fault only this method (repeatable)"
    )
    faults.add_argument("--seed", type=int, default=None, help="seed of the random fault draws")
    return parser


_FAULT_FIELDS = (
    "rate_limit_ratio",
    "rate_limit_burst",
    "retry_after",
    "server_error_ratio",
    "server_error_burst",
    "latency",
    "drop_ratio",
    "drop_burst",
    "lose_create_response",
    "lose_create_response_ratio",
    "only_paths",
    "only_routes",
    "only_methods",
    "seed",
)


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run until interrupted; returns the exit code (2, with one line on stderr, when the extra is missing).

    :param argv: The arguments, without the program name; ``None`` reads ``sys.argv``.
    """
    try:
        require_simulator_extra()
    except SimulatorNotInstalledError as exc:
        print(exc, file=sys.stderr)
        return 2
    from airflow_provider_oneinbox.simulator.core import DEFAULT_API_KEY, OneInboxSimulator

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    faults: dict[str, Any] = {name: getattr(args, name) for name in _FAULT_FIELDS}
    sim = OneInboxSimulator(
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        speed=args.speed,
        analysis_delay=args.analysis_delay,
        tls=args.tls,
        faults=faults,
        post_call_shape=args.post_call_shape,
        transcript_shape=args.transcript_shape,
        id_style=args.id_style,
        max_calls_per_day=args.max_calls_per_day,
        quota_refusal_status=args.quota_status,
        max_calls_per_second=args.max_calls_per_second,
        max_concurrent_calls=args.max_concurrent_calls,
        inbound_calls_per_minute=args.inbound_per_minute,
        recording_bytes=args.recording_bytes,
        recording_base_url=args.recording_base_url,
    )
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    try:
        sim.start()
    except OSError as exc:
        print(
            f"Cannot listen on {args.host}:{args.port}: {exc.strerror or exc}. Another process may hold "
            "the port: pick another with --port, or --port 0 for a free one.",
            file=sys.stderr,
        )
        return 2
    with sim:
        key = "the default key " + DEFAULT_API_KEY if args.api_key == DEFAULT_API_KEY else "the key given"
        print(f"OneInbox simulator listening on {sim.base_url} (speed {args.speed}, {key})", flush=True)
        if sim.ca_cert_path:
            print(f"CA certificate: {sim.ca_cert_path}", flush=True)
        while not done.wait(0.5):
            pass
    print("OneInbox simulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
