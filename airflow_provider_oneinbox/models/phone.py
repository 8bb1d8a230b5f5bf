"""
Phone numbers, checked with ``phonenumbers`` (the Python port of Google's libphonenumber).

A regular expression lets through numbers that cannot exist (``+10``, a US number with area code
555); libphonenumber knows each country's numbering plan. This module is the one rule for a phone
number in the provider: the request models, :func:`~airflow_provider_oneinbox.validation.require_e164`
and the simulator all use :func:`normalize_phone_number`. ``phonenumbers`` is imported on first use,
not with this module (about 20 ms).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from airflow_provider_oneinbox.exceptions import OneInboxInputError

#: The number every message shows as the expected form: a US number reserved for fiction
#: (555-0100 to 555-0199), which libphonenumber accepts as valid.
E164_EXAMPLE = "+14155550123"
#: E.164 as the API documents it: a plus, a non-zero digit, at most 15 digits in all. ASCII digits
#: only: ``\d`` would also accept other scripts' digits (Arabic-Indic, fullwidth, ...).
E164_PATTERN = re.compile(r"^\+[1-9][0-9]{1,14}$")
#: What may separate the digits of a number given in its international form, e.g.
#: ``"+1 (415) 555-0123"``: removed before checking. Nothing else is (letters, other digits, "ext.").
_SEPARATORS = re.compile(r"[ ().\-]")
_FORM = (
    f"an E.164 phone number such as {E164_EXAMPLE!r} ('+', country code and number, digits only, at most 15)"
)


class PhoneNumberInfo(NamedTuple):
    """
    What is known of a phone number from its digits alone (no carrier lookup).

    A named tuple rather than a dataclass: this module is imported at DAG-parse time (through
    ``validation``), where a dataclass costs about a millisecond to create.

    :param e164: The number in E.164 form, e.g. ``"+14155550123"``.
    :param country_code: Its country calling code, e.g. ``1``.
    :param region: The ISO 3166 region it belongs to, e.g. ``"US"``; ``None`` for numbers of no
        single region (e.g. ``+800`` international freephone).
    :param time_zones: The IANA time zones its area may be in, e.g. ``("America/Los_Angeles",)``;
        several for a mobile or nationwide number, empty when unknown.
    """

    e164: str
    country_code: int
    region: str | None
    time_zones: tuple[str, ...]


def _int_hint(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        # What render_template_as_native_obj=True makes of "+14155550123": Jinja's literal_eval.
        return (
            "; it is a number, not a string: with render_template_as_native_obj=True Jinja turns "
            f"{E164_EXAMPLE!r} into {int(E164_EXAMPLE)}, so render this task's templates as text"
        )
    return ""


def _parse(field: str, value: Any, *, separators: bool) -> Any:
    """The ``phonenumbers.PhoneNumber`` of ``value``, or :class:`OneInboxInputError` naming ``field``."""
    compact = value if isinstance(value, str) else None
    if compact is not None and separators:
        compact = _SEPARATORS.sub("", compact.strip())
    if compact is None or not E164_PATTERN.fullmatch(compact):
        raise OneInboxInputError(field, f"expected {_FORM}, got {value!r}{_int_hint(value)}")
    import phonenumbers

    number, why = None, ""
    try:
        number = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException as exc:
        # The digits are there (the form matched): what is wrong is their count or country code.
        why = "it starts with no country code" if exc.error_type == exc.INVALID_COUNTRY_CODE else "too short"
    if number is not None and not phonenumbers.is_valid_number(number):
        why = _why(number)
    if why:  # raised here, not in the except block, so the error carries no parser exception along
        raise OneInboxInputError(field, f"{value!r} is a number that cannot exist ({why}); expected {_FORM}")
    return number


def _why(number: Any) -> str:
    """Why libphonenumber refuses ``number``, in words."""
    import phonenumbers

    reason = phonenumbers.is_possible_number_with_reason(number)
    code = number.country_code
    region = phonenumbers.region_code_for_country_code(code)
    plan = f"country code +{code}" + (
        f" ({region})" if region not in (phonenumbers.UNKNOWN_REGION, "001") else ""
    )
    why = {
        phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: f"+{code} is no country code",
        phonenumbers.ValidationResult.TOO_SHORT: f"too short for {plan}",
        phonenumbers.ValidationResult.TOO_LONG: f"too long for {plan}",
        phonenumbers.ValidationResult.INVALID_LENGTH: f"a length {plan} does not use",
    }
    return why.get(reason, f"not in the numbering plan of {plan}")


def require_phone_number(field: str, value: Any) -> str:
    """
    ``value``, if it is written in E.164 (as the API documents) and is a number that can exist.

    The rule for every phone number of a request: ``"+14155550123"`` passes; ``"+1 415 555 0123"``
    (write it as E.164, or pass it through :func:`normalize_phone_number` first), ``+10``, a US
    area code 555, or a number too short or too long for its country are refused.

    :param field: Argument name, used in the error.
    :param value: The number to check.
    :raises OneInboxInputError: Naming ``field``, the reason and the expected form.
    """
    import phonenumbers

    return str(
        phonenumbers.format_number(
            _parse(field, value, separators=False), phonenumbers.PhoneNumberFormat.E164
        )
    )


def normalize_phone_number(field: str, value: Any) -> str:
    """
    ``value`` in E.164 form, if it is a phone number that can exist, written with or without separators.

    For a contact list written for people: spaces, hyphens, dots or parentheses between the digits
    are dropped (``"+1 (415) 555-0123"`` gives ``"+14155550123"``). A number without its ``+`` and
    country code is refused, as by :func:`require_phone_number`.

    :param field: Argument name, used in the error.
    :param value: The number to check.
    :raises OneInboxInputError: Naming ``field`` and the expected form.
    """
    import phonenumbers

    return str(
        phonenumbers.format_number(_parse(field, value, separators=True), phonenumbers.PhoneNumberFormat.E164)
    )


def describe_phone_number(value: Any, field: str = "phone_number") -> PhoneNumberInfo:
    """
    The E.164 form, region and time zones of a phone number, for calling windows and reports.

    :param value: The number, as :func:`normalize_phone_number` accepts it (separators allowed).
    :param field: Argument name used in the error if it is not a number that can exist.
    :raises OneInboxInputError: Naming ``field``.
    """
    import phonenumbers
    from phonenumbers import timezone

    number = _parse(field, value, separators=True)
    zones = tuple(z for z in timezone.time_zones_for_number(number) if z != timezone.UNKNOWN_TIMEZONE)
    region = phonenumbers.region_code_for_number(number)
    return PhoneNumberInfo(
        e164=str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)),
        country_code=int(number.country_code),
        region=None if region in (None, phonenumbers.UNKNOWN_REGION, "001") else str(region),
        time_zones=zones,
    )
