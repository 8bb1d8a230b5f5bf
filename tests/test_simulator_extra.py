"""
The simulator is an extra: a production install neither declares nor imports its stack, and
without the extra the simulator says which command installs it.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import zipfile
from importlib.metadata import Distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import airflow_provider_oneinbox
from airflow_provider_oneinbox.simulator.extra import INSTALL_COMMAND, SIMULATOR_MODULES
from airflow_provider_oneinbox.simulator.seed import SEED_AGENT_IDS

REPO = Path(__file__).resolve().parent.parent
PACKAGE = Path(airflow_provider_oneinbox.__file__).parent
#: What only the simulator may import: its server stack, its client, its certificates.
STACK = {"fastapi", "starlette", "uvicorn", "httpx", "trustme", "cryptography"}
#: Makes every module of the simulator's extra unimportable, as in an install without it.
WITHOUT_THE_EXTRA = f"import sys; sys.modules.update(dict.fromkeys({list(SIMULATOR_MODULES)!r}))\n"
#: Makes Airflow unimportable, as in a venv with only the simulator's extra.
WITHOUT_AIRFLOW = "import sys; sys.modules['airflow'] = None\n"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ.copy()
    )


def test_no_module_outside_the_simulator_imports_it_or_its_stack() -> None:
    outside = [path for path in PACKAGE.rglob("*.py") if "simulator" not in path.relative_to(PACKAGE).parts]
    assert len(outside) > 30, "the check should cover the whole package"
    for path in outside:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in STACK, f"{path} imports {name}"
                assert not name.startswith("airflow_provider_oneinbox.simulator"), f"{path} imports {name}"


@pytest.mark.skipif(importlib.util.find_spec("airflow") is None, reason="the provider's modules need Airflow")
def test_importing_every_other_module_does_not_load_the_simulator() -> None:
    outside = [path for path in PACKAGE.rglob("*.py") if "simulator" not in path.relative_to(PACKAGE).parts]
    names = [_module_name(path) for path in outside]
    result = _run(
        f"import importlib, sys\nfor name in {names!r}:\n    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('airflow_provider_oneinbox.simulator')))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"  # the last line: Airflow may log before it


def _module_name(path: Path) -> str:
    parts = ["airflow_provider_oneinbox", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.fixture(scope="module")
def built_metadata(tmp_path_factory: pytest.TempPathFactory) -> Distribution:
    """The metadata of the wheel built from this checkout (pip's own build of it)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        check=True,
        timeout=300,
    )
    (wheel,) = out.glob("airflow_provider_oneinbox-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(out / "unpacked")
    (dist_info,) = (out / "unpacked").glob("*.dist-info")
    return Distribution.at(dist_info)


def _needed_with(requirements: list[Requirement], extra: str | None) -> set[str]:
    environment = {"extra": extra or ""}
    return {req.name for req in requirements if req.marker is None or req.marker.evaluate(environment)}


def test_the_wheel_declares_the_simulator_stack_only_under_its_extra(built_metadata: Distribution) -> None:
    requirements = [Requirement(line) for line in built_metadata.requires or []]
    production = _needed_with(requirements, None)
    assert "apache-airflow" in production
    assert production.isdisjoint(STACK), production
    simulator = _needed_with(requirements, "simulator")
    assert {"fastapi", "uvicorn", "httpx", "trustme"} <= simulator
    # scripts/test and scripts/bench install these extras and run the simulator.
    assert simulator <= _needed_with(requirements, "test")
    assert simulator <= _needed_with(requirements, "bench")


def test_without_the_extra_the_command_names_the_install_command() -> None:
    result = _run(
        WITHOUT_THE_EXTRA + "import runpy\n"
        "sys.argv = ['simulator', '--port', '0']\n"
        "runpy.run_module('airflow_provider_oneinbox.simulator', run_name='__main__', alter_sys=True)\n"
    )
    assert result.returncode == 2
    assert INSTALL_COMMAND in result.stderr
    assert "fastapi" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_the_extra_importing_the_simulator_names_the_install_command() -> None:
    result = _run(
        WITHOUT_THE_EXTRA + "import airflow_provider_oneinbox.simulator as simulator  # the package itself\n"
        "try:\n"
        "    from airflow_provider_oneinbox.simulator import OneInboxSimulator\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("SimulatorNotInstalledError ")
    assert INSTALL_COMMAND in result.stdout


def test_the_simulator_runs_without_airflow() -> None:
    """The package with the simulator extra and no Airflow serves the API (scripts/test-simulator-newest)."""
    result = _run(
        WITHOUT_AIRFLOW + "import json, urllib.error, urllib.request\n"
        "from airflow_provider_oneinbox.simulator import OneInboxSimulator\n"
        "with OneInboxSimulator(api_key='k') as sim:\n"
        "    url = sim.base_url + '/v1/agents'\n"
        "    request = urllib.request.Request(url, headers={'Authorization': 'Bearer k'})\n"
        "    print(json.load(urllib.request.urlopen(request, timeout=10))['total'])\n"
        "    try:\n"
        "        urllib.request.urlopen(url, timeout=10)\n"
        "    except urllib.error.HTTPError as exc:\n"
        "        print(exc.code)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(len(SEED_AGENT_IDS)), "401"], result.stdout


def test_the_simulator_command_runs_without_airflow() -> None:
    result = _run(
        WITHOUT_AIRFLOW + "import runpy\n"
        "sys.argv = ['simulator', '--help']\n"
        "runpy.run_module('airflow_provider_oneinbox.simulator', run_name='__main__', alter_sys=True)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "--api-key" in result.stdout
