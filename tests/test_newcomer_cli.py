"""A newcomer's first commands: ``scripts/demo --help`` and a simulator whose port is taken."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_help_prints_its_usage_without_touching_the_install() -> None:
    # Its arguments once went to the venv setup (as pip extras): `--help` crashed pip.
    done = subprocess.run(
        [str(ROOT / "scripts" / "demo"), "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: demo.py" in done.stdout
    assert "--to-number" in done.stdout
    assert "Installing" not in done.stdout  # the test venv already serves the demo


def test_a_simulator_whose_port_is_taken_says_so_without_a_traceback() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "airflow_provider_oneinbox.simulator", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"127.0.0.1:{port}" in done.stderr
    assert "--port 0" in done.stderr
