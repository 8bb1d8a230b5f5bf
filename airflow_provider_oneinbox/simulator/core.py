""":class:`OneInboxSimulator`, the handle tests, demos and benchmarks hold."""

from __future__ import annotations

import shutil
import tempfile
from types import TracebackType
from typing import Any

from airflow_provider_oneinbox.simulator.app import create_app
from airflow_provider_oneinbox.simulator.certs import TlsFiles, generate_tls_files
from airflow_provider_oneinbox.simulator.context import Simulation
from airflow_provider_oneinbox.simulator.options import IdStyle, PostCallShape, SimOptions, TranscriptShape
from airflow_provider_oneinbox.simulator.server import ServerThread, raise_fd_limit

#: The key a simulator accepts unless told otherwise.
DEFAULT_API_KEY = "oi_sk_simulator"


class OneInboxSimulator:
    """
    A local fake of the OneInbox API on a loopback port (FastAPI + uvicorn in a background thread).

    State lives in this object, so it survives :meth:`refuse_connections`; :meth:`reset` empties it.

    :param api_key: The only ``Authorization: Bearer`` key ``/v1`` accepts.
    :param host: Interface to listen on.
    :param port: Port to listen on; 0 picks a free one (see :attr:`port` after :meth:`start`).
    :param speed: Simulated seconds per real second (20: a 20 s call ends in 1 real second).
    :param analysis_delay: Simulated seconds between a call's end and its post-call data.
    :param tls: Serve HTTPS with a certificate generated at start (trust :attr:`ca_cert_path`).
    :param faults: Initial :class:`~.faults.FaultSettings` fields.
    :param post_call_shape: ``analysis`` before post-call processing: ``nulls`` (default,
        ``{"outcome": null, "summary": null}``), ``empty`` (``{}``) or ``null``.
    :param transcript_shape: ``string`` (default) or ``list`` (``[{role, content}]``).
    :param id_style: ``uuid`` (default; a malformed path id gets a 422) or ``prefixed`` (``call_...``).
    :param max_calls_per_day: Daily quota of ``POST /v1/calls``; ``None`` (default): unlimited.
    :param quota_refusal_status: 429 (default, with ``Retry-After``) or 403 past the quota.
    :param max_calls_per_second: ``POST /v1/calls`` accepted per rolling simulated second, workspace-wide;
        past it 429 ``RATE_LIMITED`` with ``Retry-After``. ``None`` (default): off.
    :param max_concurrent_calls: Live calls per agent; past it 429 ``CONCURRENCY_LIMIT_REACHED`` with
        ``Retry-After``. ``None`` (default): off.
    :param inbound_calls_per_minute: Inbound calls per registered number per simulated minute (0: off).
    :param recording_bytes: Size of every served recording (``GET /_recordings/{id}.mp3``, the
        signed ``recording_url``; deterministic bytes, streamed).
    :param recording_base_url: Where ``recording_url`` links point; ``None``: this simulator, which
        serves them (no API key; 403 once expired on the simulated clock or forged).

    Every option (see :class:`~.options.SimOptions`) can be changed with :meth:`configure`;
    :meth:`reset` restores the values given here.
    """

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        analysis_delay: float = 3.0,
        tls: bool = False,
        faults: dict[str, Any] | None = None,
        *,
        post_call_shape: PostCallShape = "nulls",
        transcript_shape: TranscriptShape = "string",
        id_style: IdStyle = "uuid",
        max_calls_per_day: int | None = None,
        quota_refusal_status: int = 429,
        max_calls_per_second: int | None = None,
        max_concurrent_calls: int | None = None,
        inbound_calls_per_minute: float = 0.0,
        recording_bytes: int = 64 * 1024,
        recording_base_url: str | None = None,
    ) -> None:
        options = {
            "post_call_shape": post_call_shape,
            "transcript_shape": transcript_shape,
            "id_style": id_style,
            "max_calls_per_day": max_calls_per_day,
            "quota_refusal_status": quota_refusal_status,
            "max_calls_per_second": max_calls_per_second,
            "max_concurrent_calls": max_concurrent_calls,
            "inbound_calls_per_minute": inbound_calls_per_minute,
            "recording_bytes": recording_bytes,
            "recording_base_url": recording_base_url,
        }
        self._sim = Simulation(
            api_key, speed=speed, analysis_delay=analysis_delay, faults=faults, options=options
        )
        self._app = create_app(self._sim)
        self.host = host
        self._requested_port = port
        self.tls = tls
        self._server: ServerThread | None = None
        self._tls_dir: str | None = None
        self._tls_files: TlsFiles | None = None

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return f"OneInboxSimulator({self.host}:{self.port}, tls={self.tls}, {state})"

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> OneInboxSimulator:
        """Start serving; returns once the port accepts connections."""
        if self._server is not None:
            return self
        raise_fd_limit()
        if self.tls:
            self._tls_dir = tempfile.mkdtemp(prefix="oneinbox-sim-tls-")
            self._tls_files = generate_tls_files(self._tls_dir, self.host)
        server = ServerThread(
            self._app, self._sim.connections, self.host, self._requested_port, self._tls_files
        )
        try:
            server.start()
        except BaseException:
            self._cleanup_tls()
            raise
        self._server = server
        self._sim.store.served_base_url = self.base_url
        return self

    def stop(self) -> None:
        """Shut down cleanly: server stopped, thread joined, certificate files removed."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        self._cleanup_tls()

    def _cleanup_tls(self) -> None:
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
        self._tls_dir = self._tls_files = None

    def __enter__(self) -> OneInboxSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The port served on (the requested one before :meth:`start`)."""
        return self._server.port if self._server is not None else self._requested_port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (or ``https://``), no trailing slash."""
        if self._server is None:
            raise RuntimeError("Start the simulator first: base_url is only known once it listens")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def api_key(self) -> str:
        """The accepted API key."""
        return self._sim.api_key

    @property
    def ca_cert_path(self) -> str | None:
        """PEM of the self-signed CA that signed the server certificate (``verify=``); ``None`` if no TLS."""
        return self._tls_files.ca_cert if self._tls_files else None

    # -- control --------------------------------------------------------------------------------
    def reset(self) -> None:
        """
        Forget calls, numbers, credentials, webhooks, agents created, logs, counters and faults, and
        restore the speed, the analysis delay and every option to the values the simulator was built with.
        """
        self._sim.reset()

    def configure(
        self, speed: float | None = None, analysis_delay: float | None = None, **options: Any
    ) -> SimOptions:
        """
        Change the clock speed, the analysis delay and/or options at runtime.

        :param options: Option names as in the constructor, e.g. ``post_call_shape="empty"``,
            ``max_calls_per_day=None`` (``None`` is a value: unlimited). Unknown names raise.
        :return: Every option now in force.
        """
        return self._sim.configure(speed=speed, analysis_delay=analysis_delay, **options)

    @property
    def options(self) -> SimOptions:
        """The options in force."""
        return self._sim.store.options

    def set_faults(self, **settings: Any) -> None:
        """Change fault settings (fields of ``POST /_sim/faults``); unspecified fields keep their value."""
        self._sim.faults.update(**settings)

    def clear_faults(self) -> None:
        """Turn every fault off (counters are kept)."""
        self._sim.faults.clear()

    def advance(self, seconds: float) -> None:
        """Move the simulated clock forward (ends calls, releases post-call data, fires webhooks)."""
        self._sim.clock.advance(seconds)

    def refuse_connections(self, seconds: float) -> None:
        """
        Stop listening for ``seconds`` real seconds (new connections: ECONNREFUSED; open ones are cut).

        Returns at once; the simulator then listens again on the same port with the same state.
        """
        if self._server is None:
            raise RuntimeError("The simulator is not running")
        self._server.refuse_connections(seconds)

    # -- observation ----------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """The ``GET /_sim/stats`` document."""
        return self._sim.stats()

    def limits_record(self) -> dict[str, Any]:
        """
        What the pacing and concurrency limits saw (``limits`` in ``GET /_sim/stats``); accepted calls only.

        ``live_calls`` (now), ``peak_live_calls`` (workspace-wide) and ``peak_live_calls_by_agent``: the
        most calls live at once (every call type); ``peak_creates_per_second`` and
        ``peak_creates_per_minute``: the most ``POST /v1/calls`` accepted in any rolling 1 s and 60 s
        (simulated); ``refusals_by_code``: creates refused for ``RATE_LIMITED``,
        ``CONCURRENCY_LIMIT_REACHED`` or ``DAILY_CALL_LIMIT_REACHED``. :meth:`reset` zeroes it.
        """
        return self._sim.store.limits_record()

    def calls_created(self, to_number: str | None = None) -> int:
        """How many calls ``POST /v1/calls`` created (to ``to_number``, if given)."""
        with self._sim.store.lock:
            by_to = self._sim.store.calls_created_by_to
            return by_to.get(to_number, 0) if to_number is not None else sum(by_to.values())

    def recording_requests(self) -> list[dict[str, Any]]:
        """
        What ``GET /_recordings/...`` saw, oldest first: one ``{"authorization": bool}`` per request
        (whether it carried an ``Authorization`` header), then ``{"status": ...}`` (and ``call_id``
        when served). :meth:`reset` empties it.
        """
        return list(self._sim.store.recording_log)

    def requests(self, method: str | None = None, path_prefix: str | None = None) -> list[dict[str, Any]]:
        """Log entries ``{method, path, route, status, fault, idempotency_key, time}``, oldest first."""
        return self._sim.traffic.query(method, path_prefix)
