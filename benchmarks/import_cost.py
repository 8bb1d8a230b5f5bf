"""
What the provider adds to parsing a DAG file: import time over ``import airflow.sdk``, and what it pulls in.

Each measurement is a fresh interpreter run with ``-X importtime``; the figure is the median over
``--repeat`` runs. The provider's own share is read inside the same process (everything imported after
``airflow.sdk`` is in place), so interpreter start-up noise does not count; the difference in wall time of
whole processes is printed too. Then the example DAG files are imported (as the DAG processor does) and
``sys.modules`` is checked: a DAG file must import neither ``aiohttp`` (the async hook is for triggers) nor
the simulator's server stack (``fastapi``, ``starlette``, ``uvicorn``).

``python -m benchmarks.import_cost [--repeat 9] [--json FILE]``; exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: What a DAG file imports from the provider to declare its tasks: every operator, the sensor, the link.
PROVIDER_MODULES = (
    "airflow_provider_oneinbox.operators.calls",
    "airflow_provider_oneinbox.operators.phone_numbers",
    "airflow_provider_oneinbox.operators.credentials",
    "airflow_provider_oneinbox.operators.campaigns",
    "airflow_provider_oneinbox.operators.export",
    "airflow_provider_oneinbox.sensors.calls",
    "airflow_provider_oneinbox.links.oneinbox",
)
#: The sync hook: imported by the operators when a task runs, not when its DAG file is parsed
#: (a DAG file that imports it at top level pays for it; measured apart).
HOOK_MODULES = ("airflow_provider_oneinbox.hooks.oneinbox",)
#: Modules a DAG file must never import.
FORBIDDEN = ("aiohttp", "fastapi", "starlette", "uvicorn", "airflow_provider_oneinbox.simulator", "requests")
#: Imported or not, worth knowing.
NOTABLE = (
    "airflow_provider_oneinbox.hooks.oneinbox",
    "airflow_provider_oneinbox.hooks.oneinbox_async",
    "airflow_provider_oneinbox.triggers.calls",
    "tenacity",
    "httpx",
)
TARGET_MS = 20.0  # issue 11: at most 20 ms over `import airflow.sdk`
_MARK = "--- provider imports start here ---"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    home = RESULTS / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    env["AIRFLOW_HOME"] = str(home)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a fresh interpreter of this venv in the repository, capturing its output."""
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=_env(), capture_output=True, text=True, check=True, timeout=120
    )


def _top_level_us(importtime_lines: list[str]) -> int:
    """Sum of the cumulative times (µs) of the top-level imports in ``-X importtime`` output."""
    total = 0
    for line in importtime_lines:
        if not line.startswith("import time:") or "| cumulative |" in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not name[1:].startswith(" "):  # nested imports are indented under their parent
            total += int(cumulative.strip())
    return total


def measure_once(modules: tuple[str, ...]) -> dict[str, float]:
    """One fresh interpreter: ms of ``import airflow.sdk``, ms of the provider after it, wall ms."""
    code = f"import airflow.sdk, sys; sys.stderr.write({_MARK!r} + '\\n')"
    if modules:
        code += "; import " + ", ".join(modules)
    started = time.perf_counter()
    proc = _python("-X", "importtime", "-c", code)
    wall = time.perf_counter() - started
    before, _, after = proc.stderr.partition(_MARK)
    return {
        "sdk_ms": _top_level_us(before.splitlines()) / 1000,
        "provider_ms": _top_level_us(after.splitlines()) / 1000,
        "wall_ms": wall * 1000,
    }


def check_dag_imports() -> dict[str, Any]:
    """Import every example DAG file in a fresh interpreter; which watched modules it brought in."""
    code = f"""
import importlib.util, json, sys, time
import airflow.sdk
before = set(sys.modules)
started = time.perf_counter()
for path in sorted(__import__("glob").glob({str(ROOT / "example_dags" / "*.py")!r})):
    spec = importlib.util.spec_from_file_location("dag_" + path.rsplit("/", 1)[1][:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
elapsed = time.perf_counter() - started
watched = {list(FORBIDDEN + NOTABLE)!r}
new = set(sys.modules) - before
print(json.dumps({{
    "dag_files_ms": elapsed * 1000,
    "imported": {{name: name in sys.modules for name in watched}},
    "by_airflow_sdk_already": {{name: name in before for name in watched}},
    "new_modules": len(new),
}}))
"""
    proc = _python("-c", code)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    """Measure, print, write JSON; exit 1 if over budget or a DAG file imports a forbidden module."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.import_cost", description=__doc__)
    parser.add_argument("--repeat", type=int, default=9, help="fresh interpreters per measurement")
    parser.add_argument(
        "--json", default=str(RESULTS / "import_cost.json"), help="where to write the results"
    )
    args = parser.parse_args(argv)
    runs_sdk: list[dict[str, float]] = []
    runs_provider: list[dict[str, float]] = []
    measure_once(PROVIDER_MODULES)  # warm the file system cache and the .pyc files
    for _ in range(max(1, args.repeat)):
        runs_sdk.append(measure_once(()))
        runs_provider.append(measure_once(PROVIDER_MODULES))
    hook_ms = statistics.median(
        measure_once(PROVIDER_MODULES + HOOK_MODULES)["provider_ms"] for _ in range(max(1, args.repeat))
    )
    sdk_ms = statistics.median(r["sdk_ms"] for r in runs_provider)
    provider_ms = statistics.median(r["provider_ms"] for r in runs_provider)
    wall_sdk = statistics.median(r["wall_ms"] for r in runs_sdk)
    wall_provider = statistics.median(r["wall_ms"] for r in runs_provider)
    dags = check_dag_imports()
    forbidden = [
        name for name in FORBIDDEN if dags["imported"][name] and not dags["by_airflow_sdk_already"][name]
    ]
    verdict = "met" if provider_ms <= TARGET_MS else "NOT MET"
    print(f"import airflow.sdk:          {sdk_ms:7.1f} ms (median of {args.repeat}, -X importtime)")
    print(f"+ provider modules after it: {provider_ms:7.1f} ms   target ≤ {TARGET_MS:g} ms: {verdict}")
    print(f"  (+ the sync hook too, as a task run imports it: {hook_ms:.1f} ms)")
    print(
        f"whole process, airflow.sdk only / + provider: {wall_sdk:.0f} / {wall_provider:.0f} ms wall "
        f"(difference {wall_provider - wall_sdk:+.0f} ms)"
    )
    print(f"importing every example DAG file after airflow.sdk: {dags['dag_files_ms']:.0f} ms")
    for name in FORBIDDEN + NOTABLE:
        state = "imported" if dags["imported"][name] else "not imported"
        if dags["by_airflow_sdk_already"][name]:
            state += " (already by airflow.sdk)"
        flag = "FORBIDDEN " if name in forbidden else ""
        print(f"  {flag}{name}: {state}")
    verdict = "met" if not forbidden else "NOT MET"
    print(f"DAG parsing imports no aiohttp / fastapi / starlette / uvicorn / simulator / requests: {verdict}")
    output = Path(args.json)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "modules": PROVIDER_MODULES,
                "sdk_ms": sdk_ms,
                "provider_ms": provider_ms,
                "provider_and_hook_ms": hook_ms,
                "wall_sdk_ms": wall_sdk,
                "wall_provider_ms": wall_provider,
                "runs": {"sdk_only": runs_sdk, "with_provider": runs_provider},
                "dag_imports": dags,
                "forbidden_imported": forbidden,
                "target_ms": TARGET_MS,
            },
            indent=1,
        )
    )
    return 0 if provider_ms <= TARGET_MS and not forbidden else 1


if __name__ == "__main__":
    sys.exit(main())
