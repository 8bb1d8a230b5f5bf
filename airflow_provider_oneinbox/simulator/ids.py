"""Ids in either style, and FastAPI's own 422 for a path id that is not a UUID."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from airflow_provider_oneinbox.simulator.options import IdStyle

_UUID = TypeAdapter(uuid.UUID)

#: Length of the hex part of a prefixed id, by prefix (as the guides' examples look).
_PREFIXED_LENGTH = {"call": 32, "phn": 24}


def new_id(prefix: str, style: IdStyle) -> str:
    """A fresh id: ``str(uuid4())``, or ``{prefix}_`` + hex in the ``prefixed`` style."""
    if style == "uuid":
        return str(uuid.uuid4())
    return f"{prefix}_{uuid.uuid4().hex[: _PREFIXED_LENGTH.get(prefix, 16)]}"


def stable_id(prefix: str, name: str, style: IdStyle) -> str:
    """The same id for the same name every time (built-in records), in either style."""
    if style == "uuid":
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"oneinbox-sim:{prefix}:{name}"))
    return f"{prefix}_{'_'.join(name.lower().split())}"


def path_id_errors(field: str, value: str, style: IdStyle) -> list[dict[str, Any]] | None:
    """FastAPI's 422 ``detail`` for a path id that is not a UUID (``uuid`` style only), else ``None``."""
    if style != "uuid":
        return None
    try:
        _UUID.validate_python(value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        return [{**error, "loc": ["path", field]} for error in jsonable_encoder(errors)]
    return None


def check_path_id(field: str, value: str, style: IdStyle) -> None:
    """Raise FastAPI's 422 (``uuid_parsing`` at ``["path", field]``) for a malformed path id."""
    errors = path_id_errors(field, value, style)
    if errors is not None:
        raise RequestValidationError(errors)
