"""Injected faults: 429s, 5xx, dropped connections, lost create responses, latency."""

from __future__ import annotations

import random
import threading
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_oneinbox._compat import StrEnum

Ratio = Field(default=0.0, ge=0.0, le=1.0)
Burst = Field(default=0, ge=0)


class FaultSettings(BaseModel):
    """
    What to break, all off by default. Ratios are drawn per request, bursts hit the next N requests.

    :param rate_limit_ratio: Share of ``/v1`` requests answered 429 with ``Retry-After``.
    :param rate_limit_burst: The next N ``/v1`` requests are answered 429.
    :param retry_after: Seconds sent in ``Retry-After``.
    :param server_error_ratio: Share answered 503.
    :param server_error_burst: The next N requests are answered 500.
    :param latency: Real seconds added before each ``/v1`` response.
    :param drop_ratio: Share whose TCP connection is closed with no response.
    :param drop_burst: The next N requests get their connection closed with no response.
    :param lose_create_response: The next N ``POST /v1/calls`` create the call, then drop the connection.
    :param lose_create_response_ratio: Share of ``POST /v1/calls`` that do the same.
    :param only_paths: Only requests whose path starts with one of these prefixes are affected.
    :param only_routes: Only requests matching one of these route templates are affected, e.g.
        ``/v1/calls/{call_id}`` (one call's record, whatever its id looks like; not ``/v1/calls/cursor``).
    :param only_methods: Only requests with one of these methods are affected.
    :param seed: Seed of the random draws (reproducible runs).
    """

    model_config = ConfigDict(extra="forbid")

    rate_limit_ratio: float = Ratio
    rate_limit_burst: int = Burst
    retry_after: float = Field(default=1.0, ge=0.0)
    server_error_ratio: float = Ratio
    server_error_burst: int = Burst
    latency: float = Field(default=0.0, ge=0.0)
    drop_ratio: float = Ratio
    drop_burst: int = Burst
    lose_create_response: int = Burst
    lose_create_response_ratio: float = Ratio
    only_paths: list[str] | None = None
    only_routes: list[str] | None = None
    only_methods: list[str] | None = None
    seed: int | None = None


#: Fields that turn something on; when all are off, requests take the fast path.
_SWITCHES = (
    "rate_limit_ratio",
    "rate_limit_burst",
    "server_error_ratio",
    "server_error_burst",
    "latency",
    "drop_ratio",
    "drop_burst",
    "lose_create_response",
    "lose_create_response_ratio",
)


class Fault(StrEnum):
    """A fault fired on one request; the value is its key in ``faults_injected``."""

    RATE_LIMIT = "429"
    SERVER_ERROR = "5xx"
    DROP = "drop"
    LOST_CREATE = "lost_create_response"


class Injection(NamedTuple):
    """One fault to inject: what, and the status to answer (``None``: no answer at all)."""

    fault: Fault
    status: int | None


class FaultInjector:
    """
    Decides, request by request, which fault (if any) to inject, and counts them.

    :param settings: Initial :class:`FaultSettings` fields.
    """

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._active = False
        self.settings = FaultSettings()
        self._rng = random.Random()
        self.counts: dict[str, int] = {}
        self.reset_counts()
        self.clear()
        if settings:
            self.update(**settings)

    @property
    def active(self) -> bool:
        """Whether any fault or latency is configured (fast path for the common case)."""
        return self._active

    def reset_counts(self) -> None:
        """Zero ``faults_injected``."""
        self.counts = {fault.value: 0 for fault in Fault}

    def clear(self) -> None:
        """Turn every fault off."""
        self._apply(FaultSettings())

    def update(self, **changes: Any) -> FaultSettings:
        """Change some fields (validated); the others keep their value."""
        merged = FaultSettings.model_validate({**self.settings.model_dump(), **changes})
        self._apply(merged, reseed="seed" in changes)
        return merged

    def _apply(self, settings: FaultSettings, reseed: bool = True) -> None:
        with self._lock:
            self.settings = settings
            if reseed:
                self._rng = random.Random(settings.seed)
            self._active = any(getattr(settings, name) for name in _SWITCHES)

    def applies(self, method: str, path: str, route: str | None = None) -> bool:
        """Whether the ``only_*`` filters let faults hit this request (``route``: its route template)."""
        s = self.settings
        if s.only_methods is not None and method.upper() not in {m.upper() for m in s.only_methods}:
            return False
        if s.only_routes is not None and route not in s.only_routes:
            return False
        return s.only_paths is None or any(path.startswith(prefix) for prefix in s.only_paths)

    def decide(self, method: str, path: str, route: str | None = None) -> Injection | None:
        """The fault to inject before this request takes effect (counted), or ``None``."""
        if not self._active or not self.applies(method, path, route):
            return None
        with self._lock:
            s = self.settings
            injection: Injection | None = None
            if s.drop_burst:
                s.drop_burst -= 1
                injection = Injection(Fault.DROP, None)
            elif s.rate_limit_burst:
                s.rate_limit_burst -= 1
                injection = Injection(Fault.RATE_LIMIT, 429)
            elif s.server_error_burst:
                s.server_error_burst -= 1
                injection = Injection(Fault.SERVER_ERROR, 500)
            elif s.drop_ratio and self._rng.random() < s.drop_ratio:
                injection = Injection(Fault.DROP, None)
            elif s.rate_limit_ratio and self._rng.random() < s.rate_limit_ratio:
                injection = Injection(Fault.RATE_LIMIT, 429)
            elif s.server_error_ratio and self._rng.random() < s.server_error_ratio:
                injection = Injection(Fault.SERVER_ERROR, 503)
            if injection is not None:
                self.counts[injection.fault.value] += 1
            return injection

    def may_lose_create(self, method: str, path: str, route: str | None = None) -> bool:
        """Whether a ``POST /v1/calls`` response might be lost (the response must be held back)."""
        s = self.settings
        return (
            method == "POST"
            and path.rstrip("/") == "/v1/calls"
            and bool(s.lose_create_response or s.lose_create_response_ratio)
            and self.applies(method, path, route)
        )

    def take_lost_create(self) -> bool:
        """After a call was created: whether to drop the connection instead of answering (counted)."""
        with self._lock:
            s = self.settings
            lose = False
            if s.lose_create_response:
                s.lose_create_response -= 1
                lose = True
            elif s.lose_create_response_ratio and self._rng.random() < s.lose_create_response_ratio:
                lose = True
            if lose:
                self.counts[Fault.LOST_CREATE.value] += 1
            return lose

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` value: an integer string when whole, else a decimal."""
        value = self.settings.retry_after
        return str(int(value)) if float(value).is_integer() else str(value)
