"""Operator that stores a telephony carrier integration (Twilio, Telnyx, ...) in OneInbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.log import mask_secret

from airflow_provider_oneinbox.operators._base import OneInboxBaseOperator
from airflow_provider_oneinbox.task_errors import fail_on_oneinbox_errors

if TYPE_CHECKING:
    from airflow.sdk import Context


class OneInboxCreateCredentialOperator(OneInboxBaseOperator):
    """
    Create a carrier integration (``POST /v1/credentials``) and return its id.

    The carrier key must never sit in DAG code. Template it from an Airflow connection or
    variable, so it is resolved only at run time, e.g.
    ``carrier_api_key="{{ conn.twilio_default.password }}"`` or
    ``carrier_api_key="{{ var.value.telnyx_api_key }}"``. The rendered value is masked in task
    logs (``mask_secret``) and redacted from the rendered-template view; it is not returned or
    pushed to XCom.

    With ``reuse_existing=True`` (the default) a credential with the same ``name`` and ``provider``
    is reused instead of creating a duplicate, so a DAG can run on a schedule. The API never
    returns a stored key and offers no update, so a reused credential keeps the key it was
    created with.

    :param name: Display name of the integration, e.g. ``"Sales Twilio"``. (templated)
    :param provider: Carrier, as the API names it: ``"twilio"`` or ``"telnyx"``. (templated)
    :param carrier_api_key: The carrier's API key or auth token. (templated, masked)
    :param reuse_existing: Return the id of an existing credential with the same name and provider.
    :param oneinbox_conn_id: The OneInbox connection to use.
    """

    template_fields: Sequence[str] = ("name", "provider", "carrier_api_key")

    def __init__(
        self,
        *,
        name: str,
        provider: str,
        carrier_api_key: str,
        reuse_existing: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.provider = provider
        self.carrier_api_key = carrier_api_key
        self.reuse_existing = reuse_existing

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        # Registered before Airflow stores the rendered fields, so the masker redacts them too.
        if self.carrier_api_key:
            mask_secret(self.carrier_api_key)

    def execute(self, context: Context) -> str:
        # At run time, not at DAG parse: the request models import pydantic.
        from airflow_provider_oneinbox.models.base import build
        from airflow_provider_oneinbox.models.requests import CredentialRequest

        with fail_on_oneinbox_errors(f"Storing the {self.provider} credential {self.name!r}"):
            # Checked before any request, the reuse search included.
            body = build(
                CredentialRequest,
                "credential",
                name=self.name,
                provider=self.provider,
                api_key=self.carrier_api_key,
            )
            if self.reuse_existing:
                for credential in self.hook.list_credentials():
                    if credential.get("name") == body.name and credential.get("provider") == body.provider:
                        self.log.info("Reusing OneInbox credential %s (%s)", credential["id"], body.name)
                        return str(credential["id"])
            credential = self.hook.create_credential(
                name=body.name, provider=body.provider, api_key=self.carrier_api_key
            )
        self.log.info("Created OneInbox credential %s (%s, %s)", credential["id"], body.name, body.provider)
        return str(credential["id"])
