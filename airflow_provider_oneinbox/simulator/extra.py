"""
The simulator's own dependencies, an optional extra of the provider: checked before any of them is imported.

A production install (``pip install airflow-provider-oneinbox``) carries only what the hooks, operators,
sensors and triggers need; the simulator's server stack comes with
``pip install 'airflow-provider-oneinbox[simulator]'``. This module imports only the standard library,
so it can say what is missing instead of failing deep inside an import.
"""

from __future__ import annotations

import importlib

#: Top-level modules the simulator imports that a production install need not have.
SIMULATOR_MODULES = ("fastapi", "uvicorn", "httpx", "trustme")
INSTALL_COMMAND = "pip install 'airflow-provider-oneinbox[simulator]'"


class SimulatorNotInstalledError(ImportError):
    """The simulator's extra is not installed; the message names what is missing and the command."""


def missing_modules() -> list[str]:
    """The modules of :data:`SIMULATOR_MODULES` that cannot be imported, in that order."""
    missing = []
    for name in SIMULATOR_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def require_simulator_extra() -> None:
    """
    Return if the simulator's dependencies import; else raise :class:`SimulatorNotInstalledError`.

    :raises SimulatorNotInstalledError: naming the missing modules and ``pip install '...[simulator]'``.
    """
    missing = missing_modules()
    if missing:
        raise SimulatorNotInstalledError(
            f"The OneInbox simulator needs the provider's `simulator` extra ({', '.join(missing)} "
            f"cannot be imported). Install it with: {INSTALL_COMMAND}"
        )
