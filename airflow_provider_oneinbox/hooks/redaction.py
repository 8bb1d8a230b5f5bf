"""
Removing secrets (the API key, a carrier key, a SIP password) from anything a server sent back.

A server may echo a secret in any spelling: as it is, JSON-escaped character by character
(``\\u005f``), percent-encoded (``%5F``), as an HTML entity, or base64-encoded (an echoed
``Authorization`` header). Each secret is matched in all of these, character by character,
so a partly escaped echo is caught as well. Parsed JSON is redacted after decoding, string by
string, because parsing turns escapes back into the secret itself.
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache
from typing import Any

REDACTED = "***"

#: Shortest secret redacted: shorter values would blank out ordinary words.
_MIN_SECRET_CHARS = 4


def _spellings(char: str) -> str:
    """A regex alternation matching ``char`` as it is or escaped in JSON, a URL or HTML."""
    code = ord(char)
    forms = {re.escape(char)}
    if code < 0x10000:
        forms.add(rf"\\u{code:04x}")
        forms.add(rf"\\u{code:04X}")
    if code < 0x80:
        forms.add(f"%{code:02x}")
        forms.add(f"%{code:02X}")
    forms.add(f"&#{code};")
    forms.add(f"&#x{code:x};")
    forms.add(f"&#x{code:X};")
    if char == "/":
        forms.add(r"\\/")
    return "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"


def _base64_cores(secret: str) -> list[str]:
    """
    The part of the secret's base64 that is the same wherever it sits in a longer encoded text.

    Encoded after 0, 1 or 2 other bytes, the secret's base64 differs only in its first and last
    few characters; the middle ("core") is what an encoded echo (``Basic <user:key>``) contains.
    """
    raw = secret.encode()
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode().rstrip("=")
        start = -(-offset * 4 // 3) + (1 if offset else 0)
        end = len(encoded) - 2
        core = encoded[start:end]
        if len(core) >= 8:
            cores += [core, core.replace("+", "-").replace("/", "_")]
    return cores


@lru_cache(maxsize=64)
def _pattern(secret: str) -> re.Pattern[str]:
    spelled = "".join(_spellings(char) for char in secret)
    alternatives = [spelled, *(re.escape(core) for core in _base64_cores(secret))]
    return re.compile("|".join(alternatives))


def redact(text: str, secret: str, *others: str) -> str:
    """
    ``text`` with every spelling of ``secret`` (and of each of ``others``) replaced by ``***``.

    :param text: Any text that may quote a request (an error body, an exception's message).
    :param secret: The API key.
    :param others: More secrets, e.g. the carrier key a request carries.
    """
    for value in sorted((secret, *others), key=len, reverse=True):
        if value and len(value) >= _MIN_SECRET_CHARS:
            text = _pattern(value).sub(REDACTED, text)
        elif value:
            text = text.replace(value, REDACTED)
    return text


def redact_parsed(value: Any, secrets: tuple[str, ...]) -> Any:
    """
    ``value`` (parsed JSON) with every secret redacted from its strings and keys.

    Iterative, so that no nesting depth can exhaust the stack (the hooks refuse deep JSON
    before this runs, but this must never be the thing that fails).

    :param value: Parsed JSON.
    :param secrets: The API key and the request's own secrets.
    """
    if not secrets:
        return value

    def clean(item: Any) -> Any:
        return redact(item, *secrets) if isinstance(item, str) else item

    root: list[Any] = [value]
    pending: list[tuple[Any, Any, Any]] = [(root, 0, value)]
    while pending:
        parent, key, item = pending.pop()
        if isinstance(item, list):
            copy: Any = [None] * len(item)
            pending.extend((copy, index, child) for index, child in enumerate(item))
        elif isinstance(item, dict):
            copy = {}
            for child_key, child in item.items():
                cleaned_key = clean(child_key)
                copy[cleaned_key] = None
                pending.append((copy, cleaned_key, child))
        else:
            copy = clean(item)
        parent[key] = copy
    return root[0]
