"""
The kinds of value a request body holds, as pydantic types checked by the provider's one rule each.

Each type runs a function of :mod:`airflow_provider_oneinbox.validation` (or
:func:`~airflow_provider_oneinbox.models.phone.require_phone_number`) before pydantic's own
check, so a request model, a builder in ``hooks/api.py`` and the simulator refuse exactly the same
values with the same words. The functions raise ``OneInboxInputError``, a ``ValueError``: pydantic
records it as a ``value_error`` (FastAPI's 422 in the simulator), and
:func:`~airflow_provider_oneinbox.models.base.build` raises it again, naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, ValidationInfo

from airflow_provider_oneinbox.exceptions import OneInboxInputError
from airflow_provider_oneinbox.models.phone import require_phone_number
from airflow_provider_oneinbox.validation import (
    require_http_url,
    require_iso_datetime,
    require_json_object,
    require_string_list,
    require_text,
)


def _checked_by(rule: Callable[[str, Any], Any]) -> BeforeValidator:
    """A pydantic validator that runs ``rule(field name, value)``."""

    def check(value: Any, info: ValidationInfo) -> Any:
        return rule(info.field_name or "value", value)

    return BeforeValidator(check)


def _secret_text(field: str, value: Any) -> str:
    """A non-empty string that is never quoted in an error (a carrier key, a SIP password)."""
    if not isinstance(value, str) or not value.strip():
        raise OneInboxInputError(field, "expected a non-empty string (the value is not shown: it is secret)")
    return value.strip()


def _object_or_model(field: str, value: Any) -> Any:
    """A JSON object within the size bound, a model instance already checked, or ``None``."""
    return value if value is None or isinstance(value, BaseModel) else require_json_object(field, value)


#: A two-letter ISO 3166 country code (``country`` of a number search or purchase).
COUNTRY_CODE_PATTERN = r"^[A-Za-z]{2}$"
#: An area code (``area_code`` of a number search or purchase).
AREA_CODE_PATTERN = r"^[0-9]{1,5}$"
_COUNTRY = re.compile(COUNTRY_CODE_PATTERN)
_AREA_CODE = re.compile(AREA_CODE_PATTERN)


def require_country_code(field: str, value: Any) -> str:
    """
    ``value`` upper-cased, if it is a two-letter ISO 3166 country code such as ``"US"``.

    :param field: Argument name, used in the error.
    :param value: The code to check.
    """
    if not isinstance(value, str) or not _COUNTRY.fullmatch(value.strip()):
        raise OneInboxInputError(field, f"expected a two-letter country code such as 'US', got {value!r}")
    return value.strip().upper()


def require_area_code(field: str, value: Any) -> str:
    """
    ``value`` as a string of 1 to 5 digits, such as ``"415"`` (an int is accepted).

    :param field: Argument name, used in the error.
    :param value: The area code to check.
    """
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else None
    if text is None or not _AREA_CODE.fullmatch(text):
        raise OneInboxInputError(
            field, f"expected an area code of 1 to 5 digits such as '415', got {value!r}"
        )
    return text


#: A non-empty string, stripped (ids, names, providers, outcomes).
Text = Annotated[str, _checked_by(require_text)]
#: A non-empty string kept out of reprs and errors.
SecretText = Annotated[str, _checked_by(_secret_text), Field(repr=False)]
#: A phone number written in E.164 that can exist (``phonenumbers``' validity rules).
PhoneNumber = Annotated[str, _checked_by(require_phone_number)]
#: An absolute http(s) URL.
HttpUrl = Annotated[str, _checked_by(require_http_url)]
#: A JSON object of at most ``MAX_JSON_OBJECT_BYTES`` as compact JSON.
JsonObject = Annotated[dict[Any, Any], _checked_by(require_json_object)]
#: A timezone-aware date-time, kept as its ISO 8601 string.
AwareDateTime = Annotated[str, _checked_by(require_iso_datetime)]
#: A non-empty list of non-empty strings.
StringList = Annotated[list[str], _checked_by(require_string_list)]
#: A two-letter country code, upper-cased.
CountryCode = Annotated[str, _checked_by(require_country_code)]
#: An area code of 1 to 5 digits.
AreaCode = Annotated[str, _checked_by(require_area_code)]
#: A nested object of a body: a JSON object within the size bound, then its own model.
JsonObjectCheck = _checked_by(_object_or_model)
