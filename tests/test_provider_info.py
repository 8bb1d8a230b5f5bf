"""The provider registers with Airflow: metadata valid, connection form declared, links listed."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import airflow
import jsonschema
import pytest
from airflow.providers_manager import ProvidersManager

from airflow_provider_oneinbox import __version__
from airflow_provider_oneinbox.get_provider_info import get_provider_info


def test_provider_info_is_valid_against_airflows_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_every_listed_module_and_class_imports() -> None:
    info = get_provider_info()
    modules = [
        module
        for section in ("operators", "sensors", "hooks", "triggers")
        for entry in info[section]
        for module in entry["python-modules"]
    ]
    classes = info["extra-links"] + [conn["hook-class-name"] for conn in info["connection-types"]]
    for module in modules:
        importlib.import_module(module)
    for path in classes:
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path


CONN_FIELDS_IN_PROVIDER_INFO = hasattr(ProvidersManager, "_load_ui_metadata")  # Airflow 3.2+


@pytest.mark.skipif(not CONN_FIELDS_IN_PROVIDER_INFO, reason="Airflow < 3.2 builds the form from the hook")
def test_providers_manager_lists_the_package_and_connection_form() -> None:
    manager = ProvidersManager()
    assert manager.providers["airflow-provider-oneinbox"].version == __version__
    hook = manager.hooks["oneinbox"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_oneinbox.hooks.oneinbox.OneInboxHook"
    assert hook.connection_id_attribute_name == "oneinbox_conn_id"
    behaviour = manager.field_behaviours["oneinbox"]
    assert behaviour["relabeling"] == {"host": "Base URL", "password": "API Key"}
    assert {"schema", "login", "port", "extra"} <= set(behaviour["hidden_fields"])
    widgets = manager.connection_form_widgets
    assert {
        "timeout",
        "max_retries",
        "retry_wait_max",
        "call_url_template",
        "max_response_bytes",
        "proxy",
    } <= {widget.field_name for key, widget in widgets.items() if key.startswith("extra__oneinbox__")}
    assert "airflow_provider_oneinbox.links.oneinbox.OneInboxCallLink" in manager.extra_links_class_names


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["providers", "list", "--output", "json"], "airflow-provider-oneinbox"),
        (["providers", "hooks", "--output", "json"], "oneinbox"),
    ],
)
def test_airflow_cli_lists_the_provider(command: list[str], expected: str) -> None:
    airflow_cli = Path(sys.executable).parent / "airflow"
    out = subprocess.run(
        [str(airflow_cli), *command], capture_output=True, text=True, check=True, env=dict(os.environ)
    )
    assert expected in out.stdout


def test_hook_describes_the_form_for_airflow_versions_that_ask_the_hook() -> None:
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook

    behaviour = OneInboxHook.get_ui_field_behaviour()
    assert behaviour["relabeling"] == {"host": "Base URL", "password": "API Key"}
    assert set(behaviour["hidden_fields"]) == {"schema", "login", "port"}, "3.1 edits extras as raw JSON"
    assert "timeout" in behaviour["placeholders"]["extra"]


def test_providers_manager_registers_the_hook_on_every_supported_version() -> None:
    manager = ProvidersManager()
    assert manager.providers["airflow-provider-oneinbox"].version == __version__
    assert "oneinbox" in manager.hooks


def test_only_the_sync_hook_claims_the_connection_type() -> None:
    """The async hook reads the same connections by id, from the same base, without registering."""
    from airflow_provider_oneinbox.hooks.base import OneInboxBaseHook
    from airflow_provider_oneinbox.hooks.oneinbox import OneInboxHook
    from airflow_provider_oneinbox.hooks.oneinbox_async import OneInboxAsyncHook

    (connection_type,) = get_provider_info()["connection-types"]
    assert connection_type["hook-class-name"] == "airflow_provider_oneinbox.hooks.oneinbox.OneInboxHook"
    faces = (OneInboxBaseHook, OneInboxHook, OneInboxAsyncHook)
    assert [face for face in faces if "conn_type" in vars(face)] == [OneInboxHook]
    assert [face for face in faces if "get_ui_field_behaviour" in vars(face)] == [OneInboxHook]
    assert issubclass(OneInboxAsyncHook, OneInboxBaseHook)
    assert issubclass(OneInboxHook, OneInboxBaseHook)
    assert OneInboxAsyncHook().oneinbox_conn_id == OneInboxHook().oneinbox_conn_id == "oneinbox_default"
