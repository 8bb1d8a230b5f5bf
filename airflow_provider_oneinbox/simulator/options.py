"""
The simulator's behaviour switches: how records look, how ids look, the daily quota, pacing and
concurrency limits, inbound traffic.

Where the published API reference allows several shapes, each one is an option here, and the
default is the shape the reference describes most directly.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: ``analysis`` of a call not yet analysed: ``{"outcome": null, "summary": null}``, ``{}`` or ``null``.
PostCallShape = Literal["nulls", "empty", "null"]
#: ``transcript`` once ready: the deprecated string, or ``[{role, content}]``.
TranscriptShape = Literal["string", "list"]
#: ``uuid``: ``str(uuid4())`` (the OpenAPI's type); ``prefixed``: ``call_...`` (the guides' examples).
IdStyle = Literal["uuid", "prefixed"]


class SimOptions(BaseModel):
    """
    Switches a simulator is built with, changeable at runtime, restored by ``reset()``.

    :param post_call_shape: ``analysis`` of a live or ended-but-unprocessed call. ``nulls`` (default:
        ``{"outcome": null, "summary": null}``, as the outcomes guide describes), ``empty`` (``{}``, as
        the list examples show) or ``null`` (the simulator's old behaviour).
    :param transcript_shape: ``string`` (default, the deprecated string) or ``list``
        (``[{role, content}]``, as other reference pages type it).
    :param id_style: ``uuid`` (default) or ``prefixed``. With ``uuid`` a path id that is not a UUID is
        answered with FastAPI's 422. Seeded agent ids (``agt_sales``...) stay as they are in both styles.
    :param max_calls_per_day: Daily quota of ``POST /v1/calls`` (reset 00:00 UTC, simulated clock);
        ``None``: unlimited.
    :param quota_refusal_status: Status of a create past the quota, 429 (with ``Retry-After``) or 403.
    :param max_calls_per_second: ``POST /v1/calls`` accepted in any rolling simulated second,
        workspace-wide (a carrier's calls per second); past it 429 ``RATE_LIMITED``. ``None``: off.
    :param max_concurrent_calls: Live calls (queued, initiated, in progress) per agent; a create past it
        is refused with 429 ``CONCURRENCY_LIMIT_REACHED``. ``None``: off. See :mod:`.limits`.
    :param inbound_calls_per_minute: Inbound calls each registered number receives per simulated
        minute (0: none).
    :param recording_bytes: Size of every served recording (deterministic bytes per call, generated
        as they are sent: a large size costs no memory). See :mod:`.recordings`.
    :param recording_base_url: Base URL the signed ``recording_url`` links point at; ``None``
        (default): the simulator's own base URL, which serves them.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    post_call_shape: PostCallShape = "nulls"
    transcript_shape: TranscriptShape = "string"
    id_style: IdStyle = "uuid"
    max_calls_per_day: int | None = Field(default=None, ge=0)
    quota_refusal_status: Literal[429, 403] = 429
    max_calls_per_second: int | None = Field(default=None, ge=1)
    max_concurrent_calls: int | None = Field(default=None, ge=1)
    inbound_calls_per_minute: float = Field(default=0.0, ge=0.0, le=600.0)
    recording_bytes: int = Field(default=64 * 1024, ge=1, le=16 * 1024**3)
    recording_base_url: str | None = Field(default=None, pattern=r"^https?://[^/?#]+$")

    def merged(self, changes: dict[str, Any]) -> SimOptions:
        """A validated copy with ``changes`` applied (unknown names and bad values raise)."""
        return SimOptions.model_validate({**self.model_dump(), **changes})


#: Names of every option (constructor kwargs, ``configure()`` kwargs, ``POST /_sim/configure`` fields).
OPTION_NAMES: tuple[str, ...] = tuple(SimOptions.model_fields)
