"""Plausible, deterministic "available numbers" for ``GET /v1/phone-numbers/search`` and purchases."""

from __future__ import annotations

import random
from collections.abc import Collection
from typing import Any

from airflow_provider_oneinbox.exceptions import OneInboxInputError
from airflow_provider_oneinbox.models.phone import normalize_phone_number

#: country -> (calling code, national significant digits after the area code, monthly cost in USD)
_COUNTRIES: dict[str, tuple[str, int, float]] = {
    "US": ("1", 7, 1.15),
    "CA": ("1", 7, 1.15),
    "GB": ("44", 8, 1.50),
    "IE": ("353", 7, 1.75),
    "AU": ("61", 8, 3.00),
    "DE": ("49", 8, 1.75),
    "IN": ("91", 8, 2.50),
}
_DEFAULT_AREA = {"US": "415", "CA": "416", "GB": "20", "IE": "1", "AU": "2", "DE": "30", "IN": "22"}
_LOCALITIES = {
    ("US", "415"): "San Francisco, CA",
    ("US", "212"): "New York, NY",
    ("US", "312"): "Chicago, IL",
    ("US", "512"): "Austin, TX",
    ("US", "206"): "Seattle, WA",
    ("US", "617"): "Boston, MA",
    ("US", "310"): "Los Angeles, CA",
    ("US", "573"): "Columbia, MO",
    ("CA", "416"): "Toronto, ON",
    ("GB", "20"): "London",
    ("IE", "1"): "Dublin",
    ("AU", "2"): "Sydney",
    ("DE", "30"): "Berlin",
    ("IN", "22"): "Mumbai",
}


def _can_exist(number: str) -> bool:
    """Whether the provider would accept ``number``: a search offers only numbers it could buy."""
    try:
        normalize_phone_number("phone_number", number)
    except OneInboxInputError:
        return False
    return True


def available_numbers(
    country: str, area_code: str | None, limit: int, exclude: Collection[str] = ()
) -> list[dict[str, Any]]:
    """
    Up to ``limit`` numbers, always the same ones for the same (country, area code).

    An unsupported country gives an empty list.
    """
    country = country.upper()
    if country not in _COUNTRIES:
        return []
    calling_code, digits, cost = _COUNTRIES[country]
    area = area_code or _DEFAULT_AREA[country]
    rng = random.Random(f"{country}:{area}")
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _ in range(limit * 20 + len(exclude)):
        if len(found) >= limit:
            break
        subscriber = str(rng.randint(2, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(digits - 1))
        number = f"+{calling_code}{area}{subscriber}"
        if number in seen or number in exclude or not _can_exist(number):
            continue
        seen.add(number)
        found.append(
            {
                "phone_number": number,
                "country": country,
                "area_code": area,
                "locality": _LOCALITIES.get((country, area)),
                "monthly_cost": cost,
                "capabilities": {"voice": True, "sms": country in {"US", "CA"}},
            }
        )
    return found
