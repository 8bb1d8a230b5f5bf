"""Everything one simulator instance holds, shared by the app, the middleware and the server."""

from __future__ import annotations

from typing import Any

from airflow_provider_oneinbox.simulator.clock import SimClock
from airflow_provider_oneinbox.simulator.faults import FaultInjector
from airflow_provider_oneinbox.simulator.options import SimOptions
from airflow_provider_oneinbox.simulator.state import Store
from airflow_provider_oneinbox.simulator.traffic import ConnectionRegistry, TrafficLog
from airflow_provider_oneinbox.simulator.webhooks import WebhookDispatcher


class Simulation:
    """
    The state behind one simulator: clock, store, faults, traffic counters, open connections, webhooks.

    :param api_key: The only key ``/v1`` accepts.
    :param speed: Simulated seconds per real second.
    :param analysis_delay: Simulated seconds between a call's end and its post-call data.
    :param faults: Initial fault settings.
    :param options: Initial :class:`~.options.SimOptions` fields (what :meth:`reset` restores).
    """

    def __init__(
        self,
        api_key: str,
        speed: float = 1.0,
        analysis_delay: float = 3.0,
        faults: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        if analysis_delay < 0:
            raise ValueError("analysis_delay must be >= 0")
        self.api_key = api_key
        self.default_speed = speed
        self.default_analysis_delay = analysis_delay
        self.default_options = SimOptions().merged(options or {})
        self.clock = SimClock(speed)
        self.store = Store(self.clock, analysis_delay, self.default_options)
        self.faults = FaultInjector(faults)
        self.traffic = TrafficLog()
        self.connections = ConnectionRegistry()
        self.webhooks = WebhookDispatcher(self.store)
        self.clock.on_change(self.webhooks.wake)

    def reset(self) -> None:
        """Back to a fresh account: no calls, numbers, credentials, webhooks, logs, counters or faults."""
        with self.store.lock:
            self.configure(speed=self.default_speed, analysis_delay=self.default_analysis_delay)
            self.store.options = self.default_options
            self.clock.resync()
            self.store.clear()
            self.webhooks.clear()
        self.traffic.reset()
        self.connections.opened = 0
        self.faults.clear()
        self.faults.reset_counts()

    def configure(
        self, speed: float | None = None, analysis_delay: float | None = None, **options: Any
    ) -> SimOptions:
        """
        Change the clock speed, the analysis delay (for calls created from now on) and/or options.

        :param options: :class:`~.options.SimOptions` fields to change (validated; ``None`` is a value,
            e.g. ``max_calls_per_day=None`` lifts the quota).
        :return: The options now in force.
        """
        if analysis_delay is not None and analysis_delay < 0:
            raise ValueError("analysis_delay must be >= 0")
        if options:
            self.store.set_options(self.store.options.merged(options))
            self.webhooks.wake()
        if analysis_delay is not None:
            self.store.analysis_delay = analysis_delay
        if speed is not None:
            self.clock.set_speed(speed)
        return self.store.options

    def stats(self) -> dict[str, Any]:
        """The ``GET /_sim/stats`` document."""
        active = self.store.active_calls()
        limits = self.store.limits_record()
        with self.store.lock:
            by_to = dict(self.store.calls_created_by_to)
            inbound = sum(1 for call in self.store.call_list if call.type == "inbound")
        return {
            "requests_total": self.traffic.total,
            "requests_by_route": dict(self.traffic.by_route),
            "connections_opened": self.connections.opened,
            "calls_created": sum(by_to.values()),
            "calls_created_by_to_number": by_to,
            "faults_injected": dict(self.faults.counts),
            "inbound_calls": inbound,
            "active_calls": active,
            "limits": limits,
            "sim_time": self.clock.iso(self.clock.now()),
            "speed": self.clock.speed,
            "analysis_delay": self.store.analysis_delay,
            "options": self.store.options.model_dump(),
        }
