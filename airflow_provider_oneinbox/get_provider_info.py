"""Provider metadata read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point.

Airflow 3 builds the connection form from this dict alone, without importing the hook.
"""

from __future__ import annotations

from typing import Any

_PACKAGE = "airflow_provider_oneinbox"
_INTEGRATION = "OneInbox"


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata, valid against Airflow's ``provider_info.schema.json``."""
    return {
        "package-name": "airflow-provider-oneinbox",
        "name": "OneInbox",
        "description": "Place, await and analyse voice-AI phone calls with `OneInbox <https://oneinbox.ai>`__.",
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://docs.oneinbox.ai",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    f"{_PACKAGE}.operators.calls",
                    f"{_PACKAGE}.operators.campaigns",
                    f"{_PACKAGE}.operators.credentials",
                    f"{_PACKAGE}.operators.export",
                    f"{_PACKAGE}.operators.phone_numbers",
                ],
            }
        ],
        "sensors": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.sensors.calls"]}],
        "hooks": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [f"{_PACKAGE}.hooks.oneinbox", f"{_PACKAGE}.hooks.oneinbox_async"],
            }
        ],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    f"{_PACKAGE}.triggers.calls",
                    f"{_PACKAGE}.triggers.campaign",
                    f"{_PACKAGE}.triggers.call_events",
                ],
            }
        ],
        "extra-links": [f"{_PACKAGE}.links.oneinbox.OneInboxCallLink"],
        "notifications": [f"{_PACKAGE}.notifications.calls.OneInboxCallNotifier"],
        "connection-types": [
            {
                "connection-type": "oneinbox",
                "hook-class-name": f"{_PACKAGE}.hooks.oneinbox.OneInboxHook",
                "hook-name": "OneInbox",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port", "extra"],
                    "relabeling": {"host": "Base URL", "password": "API Key"},
                    "placeholders": {"host": "https://api.oneinbox.ai", "password": "oi_sk_..."},
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["number", "null"], "default": 30},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries of a failed request (429, 5xx, connection errors); 0 for "
                        "none. POST /v1/calls is never retried once it may have reached the API.",
                        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0},
                    },
                    "retry_wait_min": {
                        "label": "Min retry wait (seconds)",
                        "schema": {"type": ["number", "null"], "default": 1},
                    },
                    "retry_wait_max": {
                        "label": "Max retry wait (seconds)",
                        "description": "Cap on one backoff wait, including a server's Retry-After.",
                        "schema": {"type": ["number", "null"], "default": 60},
                    },
                    "max_response_bytes": {
                        "label": "Max response size (bytes)",
                        "description": "A larger response fails (not retried); nothing past it is read.",
                        "schema": {"type": ["integer", "null"], "default": 16777216, "minimum": 1},
                    },
                    "proxy": {
                        "label": "Proxy URL",
                        "description": "http(s) proxy for an https API; environment proxies are never used.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "call_url_template": {
                        "label": "Call dashboard URL",
                        "description": "Pattern of the 'OneInbox Call' link; {call_id} is replaced.",
                        "schema": {
                            "type": ["string", "null"],
                            "default": "https://app.oneinbox.ai/calls/{call_id}",
                        },
                    },
                },
            }
        ],
    }
