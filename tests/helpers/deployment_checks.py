"""
The simulator a deployment dials, and what is checked against its own record afterwards: calls
per contact and per idempotency key, caps on live calls and on call starts, API keys in logs.
"""

from __future__ import annotations

import base64
import json
import math
import queue
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from airflow_provider_oneinbox.ledger import IDEMPOTENCY_METADATA_KEY
from benchmarks.simulator_process import START_TIMEOUT, SimulatorProcess, parse_iso


class DeploymentSimulator(SimulatorProcess):
    """
    :class:`~benchmarks.simulator_process.SimulatorProcess` with a key of its own and the
    simulator's limits set at start (``--max-calls-per-second`` ...).

    :param api_key: The only key the simulator accepts (a distinctive one, to find it in logs).
    :param speed: Simulated seconds per real second.
    :param analysis_delay: Simulated seconds from a call's end to its post-call data.
    :param log_path: Where the simulator's output goes.
    :param options: More command-line options, e.g. ``["--max-calls-per-second", "2"]``.
    """

    def __init__(
        self,
        api_key: str,
        speed: float,
        analysis_delay: float = 3.0,
        log_path: Path | None = None,
        options: Sequence[str] = (),
    ) -> None:
        super().__init__(speed=speed, analysis_delay=analysis_delay, log_path=log_path)
        self.api_key = api_key
        self.options = list(options)

    def start(self) -> DeploymentSimulator:
        """Start the subprocess (HTTPS, a free port) and wait until it answers."""
        command = [
            sys.executable, "-m", "airflow_provider_oneinbox.simulator", "--tls", "--host", "127.0.0.1",
            "--port", "0", "--speed", str(self.speed), "--analysis-delay", str(self.analysis_delay),
            "--api-key", self.api_key, *self.options,
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        self._drain = threading.Thread(target=self._read_output, args=(lines,), daemon=True)
        self._drain.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not (self.base_url and self.ca_cert_path):
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError("The simulator exited at start")
            if "listening on " in line:
                self.base_url = line.split("listening on ", 1)[1].split()[0]
            elif line.startswith("CA certificate: "):
                self.ca_cert_path = line.removeprefix("CA certificate: ").strip()
        self._client = httpx.Client(
            base_url=self.base_url, verify=self.ca_cert_path, timeout=60.0,
            limits=httpx.Limits(max_keepalive_connections=0),
        )  # fmt: skip
        self.health()
        return self

    def connection(self, **extra: Any) -> dict[str, Any]:
        """``oneinbox_default`` for the deployment: this simulator over HTTPS, its CA trusted."""
        return {
            "conn_type": "oneinbox",
            "host": self.base_url,
            "password": self.api_key,
            "extra": {"verify": self.ca_cert_path, **extra},
        }

    def set_faults(self, **faults: Any) -> None:
        """``POST /_sim/faults``."""
        self._admin("POST", "/_sim/faults", json=faults)

    def clear_faults(self) -> None:
        """``DELETE /_sim/faults``."""
        self._admin("DELETE", "/_sim/faults")

    def all_calls(self) -> list[dict[str, Any]]:
        """Every call the simulator holds (``GET /v1/calls/cursor``, all pages; clear faults first)."""
        calls: list[dict[str, Any]] = []
        cursor: str | None = None
        headers = {"Authorization": f"Bearer {self.api_key}"}
        with httpx.Client(
            base_url=self.base_url, verify=self.ca_cert_path, timeout=60, headers=headers
        ) as client:
            while True:
                params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
                response = client.get("/v1/calls/cursor", params=params)
                response.raise_for_status()
                page = response.json()
                calls.extend(page["items"])
                cursor = page.get("next_cursor")
                if not page.get("has_more") or not cursor:
                    return calls


def numbers(spec: dict[str, Any]) -> list[str]:
    """A deployment campaign's numbers (``n``, ``prefix``, ``suffixes``), as its DAG builds them."""
    suffixes = spec.get("suffixes") or ["01", "03", "07", "10", "11", "12", "13", "14", "15", "16"]
    return [
        f"{spec['prefix']}{i // len(suffixes):03d}{suffixes[i % len(suffixes)]}" for i in range(spec["n"])
    ]


def poll(condition: Callable[[], Any], timeout: float, every: float = 0.2) -> Any:
    """``condition()`` once truthy, or ``None`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    return None


@dataclass
class Findings:
    """What was checked (``checked``) and what failed (``failures``), in order."""

    checked: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        """Record one check; ``ok``."""
        (self.checked if ok else self.failures).append(what if ok else f"{what}: {detail}")
        print(f"  [{'ok' if ok else 'FAIL'}] {what}{'' if ok else ': ' + detail}", flush=True)
        return ok


def key_of(call: dict[str, Any]) -> str | None:
    """The idempotency key the provider put in a call's metadata."""
    metadata = call.get("metadata") or {}
    value = metadata.get(IDEMPOTENCY_METADATA_KEY)
    return value if isinstance(value, str) else None


def check_once_per_key(
    findings: Findings, label: str, calls: list[dict[str, Any]], numbers: Sequence[str]
) -> None:
    """
    Every contact dialled, and at most once per idempotency key (one key per contact and attempt).

    :param findings: Where the results go.
    :param label: The campaign's name in the messages.
    :param calls: The campaign's calls (one agent's).
    :param numbers: The campaign's contacts' numbers.
    """
    keys = Counter(key_of(call) for call in calls)
    twice = {key: n for key, n in keys.items() if n > 1}
    findings.check(not twice, f"{label}: no idempotency key dialled twice ({len(keys)} keys)", f"{twice}")
    findings.check(
        None not in keys, f"{label}: every call carries its idempotency key", f"{keys.get(None)} without"
    )
    by_number = Counter(call["to_number"] for call in calls)
    missing = [n for n in numbers if n not in by_number]
    findings.check(
        not missing, f"{label}: every one of {len(numbers)} contacts called", f"never called: {missing}"
    )
    strangers = set(by_number) - set(numbers)
    findings.check(not strangers, f"{label}: no number outside the contacts called", f"{sorted(strangers)}")


def check_caps(
    findings: Findings,
    label: str,
    calls: list[dict[str, Any]],
    speed: float,
    max_concurrent: int,
    calls_per_minute: float | None,
) -> None:
    """
    The campaign's live calls never above ``max_concurrent`` and its starts never faster than
    ``calls_per_minute``, by the simulator's timestamps (simulated seconds / ``speed`` = real).
    """
    spans = []
    for call in calls:
        start = parse_iso(call["created_at"]) / speed
        end = parse_iso(call["ended_at"]) / speed if call.get("ended_at") else math.inf
        spans.append((start, end))
    peak = peak_overlap(spans)
    findings.check(
        peak <= max_concurrent, f"{label}: at most {max_concurrent} live calls (peak {peak})", "exceeded"
    )
    if calls_per_minute:
        starts = sorted(start for start, _ in spans)
        window = 10 * 60.0 / calls_per_minute  # ten spacings
        most = max_in_window(starts, window)
        allowed = math.ceil(window * calls_per_minute / 60.0) + 1
        findings.check(
            most <= allowed,
            f"{label}: starts paced at {calls_per_minute}/min "
            f"(most {most} in any {window:.0f} s, allowed {allowed})",
            "too fast",
        )


def check_campaign_calls(
    findings: Findings,
    calls: list[dict[str, Any]],
    created_by_number: dict[str, int],
    specs: Iterable[dict[str, Any]],
    speed: float,
) -> None:
    """
    Per campaign (a spec: ``dag_id``, ``agent_id``, ``prefix``, ``n``, ``cap``, optional
    ``calls_per_minute``): each contact called once per key, each number created exactly once by
    the simulator's own count, and its caps kept.

    :param findings: Where the results go.
    :param calls: The simulator's calls (``all_calls()``).
    :param created_by_number: The simulator's ``calls_created_by_to_number``.
    :param specs: The campaigns.
    :param speed: The simulator's speed (simulated seconds per real one).
    """
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for call in calls:
        by_agent.setdefault(call["agent_id"], []).append(call)
    for spec in specs:
        label, own = spec["dag_id"], by_agent.get(spec["agent_id"], [])
        check_once_per_key(findings, label, own, numbers(spec))
        twice = {n: c for n, c in created_by_number.items() if n.startswith(spec["prefix"]) and c != 1}
        findings.check(
            not twice, f"{label}: each number created exactly once (simulator's count)", f"{twice}"
        )
        check_caps(findings, label, own, speed, spec["cap"], spec.get("calls_per_minute"))


def peak_overlap(spans: Iterable[tuple[float, float]]) -> int:
    """Most intervals ``[start, end)`` open at once."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak


def max_in_window(times: Sequence[float], window: float) -> int:
    """Most of the sorted ``times`` in any half-open window of ``window`` seconds."""
    most, first = 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - window:
            first += 1
        most = max(most, last - first + 1)
    return most


def secret_forms(secret: str) -> dict[str, str]:
    """
    ``secret`` as a log could carry it: plain, URL-encoded, and base64 at each of the 3 byte
    alignments it can have inside a longer encoded text (``Basic``/``Bearer`` headers, tokens),
    standard and URL-safe: the characters that depend on the secret alone.
    """
    forms = {"plain": secret, "url-encoded": urllib.parse.quote(secret, safe="")}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret.encode()).decode()
        core = encoded[math.ceil(offset * 8 / 6) : -4]
        forms[f"base64 (alignment {offset})"] = core
        forms[f"base64 url-safe (alignment {offset})"] = core.replace("+", "-").replace("/", "_")
    return forms


def find_secret(files: Iterable[Path], secret: str) -> list[str]:
    """``"<file>: <form>"`` for every log file holding ``secret`` in any of :func:`secret_forms`."""
    forms = {name: form.encode() for name, form in secret_forms(secret).items()}
    hits: defaultdict[str, list[str]] = defaultdict(list)
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for name, form in forms.items():
            if form in data:
                hits[str(path)].append(name)
    return [f"{path}: {', '.join(names)}" for path, names in hits.items()]


def interrupted(signum: int, frame: Any) -> None:
    """A SIGTERM handler (a CI timeout's): raise, so that every scenario still stops all it started."""
    raise KeyboardInterrupt(f"signal {signum}")


def ran_to_the_end(findings: Findings, what: str, exc: Exception, deployment: Any | None) -> None:
    """Record that a scenario broke off with ``exc``, and print the end of every process's log."""
    findings.check(False, f"the {what} ran to the end", f"{type(exc).__name__}: {exc}")
    if deployment is not None:
        for name, process in deployment.processes.items():
            print(f"--- {name} (end of log)\n{process.log(1500)}", flush=True)


def wind_down(
    findings: Findings,
    deployment: Any | None,
    simulator: DeploymentSimulator,
    work: Path,
    keep_logs: Path | None,
    api_key: str,
) -> None:
    """
    The end of every scenario: stop everything the deployment started, keep its logs when asked
    or when a check failed, check that no log file holds the API key in any encoding, stop the
    simulator, and remove the work directory of a run that passed.
    """
    if deployment is not None:
        deployment.stop()  # everything it started; its files stay (the root is ours)
        keep = keep_logs or (work / "logs" if findings.failures else None)
        if keep is not None:
            print(f"== logs kept in {deployment.collect_logs(keep)}", flush=True)
        files = [*deployment.log_files(), work / "simulator.log"]
        hits = find_secret(files, api_key)
        findings.check(
            not hits,
            f"no API key (plain, url-encoded, base64) in any of {len(files)} log files",
            "; ".join(hits),
        )
    simulator.stop()
    if not findings.failures:
        shutil.rmtree(work, ignore_errors=True)


def report(findings: Findings, started: float, figures: dict[str, Any] | None = None) -> int:
    """Print the figures and the verdict; the scenario's exit status (1 when a check failed)."""
    took = time.monotonic() - started
    if figures is not None:
        print(f"== measured: {json.dumps(figures)}")
    print(f"== {len(findings.checked)} checks passed, {len(findings.failures)} failed, in {took:.0f} s")
    for failure in findings.failures:
        print(f"FAILED: {failure}")
    return 1 if findings.failures else 0
