"""The simulated clock: real time scaled by ``speed``, plus whatever tests ``advance``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from airflow_provider_oneinbox._compat import UTC


class SimClock:
    """
    Simulated seconds since the simulator was created, mapped onto wall-clock datetimes.

    :param speed: Simulated seconds per real second (> 0).
    """

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._real0 = time.monotonic()
        self._sim0 = 0.0
        self._epoch = time.time()
        self._listeners: list[Callable[[], None]] = []

    @property
    def speed(self) -> float:
        """Simulated seconds per real second."""
        return self._speed

    def now(self) -> float:
        """Simulated seconds since creation."""
        return self._sim0 + (time.monotonic() - self._real0) * self._speed

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on; simulated time never jumps."""
        if speed <= 0:
            raise ValueError("speed must be > 0")
        with self._lock:
            self._sim0 = self.now()
            self._real0 = time.monotonic()
            self._speed = float(speed)
        self._notify()

    def advance(self, seconds: float) -> None:
        """Move simulated time forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("cannot move the clock backwards")
        with self._lock:
            self._sim0 += seconds
        self._notify()

    def resync(self) -> None:
        """Map simulated now onto the real wall clock again (after a reset nothing depends on the past)."""
        with self._lock:
            self._epoch = time.time() - self.now()

    def real_delay(self, sim_seconds: float) -> float:
        """Real seconds until ``sim_seconds`` of simulated time have passed at the current speed."""
        return max(0.0, sim_seconds) / self._speed

    def to_datetime(self, sim_time: float) -> datetime:
        """The wall-clock datetime (UTC) of a simulated instant."""
        return datetime.fromtimestamp(self._epoch + sim_time, UTC)

    def to_sim(self, when: datetime) -> float:
        """The simulated instant of a datetime; a naive one is taken as UTC."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp() - self._epoch

    def iso(self, sim_time: float | None) -> str | None:
        """ISO-8601 UTC (``...Z``) of a simulated instant, ``None`` for ``None``."""
        if sim_time is None:
            return None
        return self.to_datetime(sim_time).isoformat().replace("+00:00", "Z")

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every jump or speed change (e.g. to wake the webhook scheduler)."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()
