"""The base of the request models, and turning a pydantic ``ValidationError`` into ``OneInboxInputError``."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from airflow_provider_oneinbox.exceptions import OneInboxInputError

M = TypeVar("M", bound=BaseModel)


class RequestBody(BaseModel):
    """
    A request body of the OneInbox API, as the client sends it and the simulator receives it.

    Frozen: an operator builds its request once, checked, and sends that. Fields the API does not
    know are ignored (FastAPI's default), so a newer client body still reaches an older simulator.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    def body(self) -> dict[str, Any]:
        """The JSON body to send: the fields given, without those that are ``None`` at the top level."""
        dumped = self.model_dump(exclude_unset=True)
        return {name: value for name, value in dumped.items() if value is not None}


class NestedObject(BaseModel):
    """An object inside a body (``overrides.tts``, ``provider_config``): known fields typed, others kept."""

    model_config = ConfigDict(frozen=True, extra="allow")


def _problem(error: OneInboxInputError) -> str:
    prefix = f"Invalid {error.field!r}: "
    text = str(error)
    return text[len(prefix) :] if text.startswith(prefix) else text


def input_error(exc: ValidationError, what: str) -> OneInboxInputError:
    """
    The :class:`OneInboxInputError` for the first problem of ``exc``, naming its field.

    Built from the error's location, type and message, never from the value, which may be a
    carrier key or a SIP password.

    :param exc: What pydantic raised.
    :param what: The body's name, for an error about the body as a whole (e.g. ``"webhook"``).
    """
    first = exc.errors(include_url=False, include_input=False, include_context=True)[0]
    field = ".".join(str(part) for part in first["loc"])
    original = (first.get("ctx") or {}).get("error")
    if isinstance(original, OneInboxInputError):
        if not field or field == original.field:
            return original
        return OneInboxInputError(field, _problem(original))
    if first["type"] == "missing":
        return OneInboxInputError(field or what, "is required")
    return OneInboxInputError(field or what, str(first["msg"]))


def build(model: type[M], what: str, **fields: Any) -> M:
    """
    ``model(**fields)``, or the :class:`OneInboxInputError` of its first problem.

    The error is raised outside the ``except`` block: a ``ValidationError`` holds the values it
    refused (a key, a password), and must not ride along as the new error's ``__context__``.

    :param model: The request model.
    :param what: The body's name, for errors about the body as a whole.
    :param fields: Its fields.
    """
    try:
        return model(**fields)
    except ValidationError as exc:
        error = input_error(exc, what)
    raise error
