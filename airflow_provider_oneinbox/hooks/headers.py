"""
Checking values that go into HTTP headers (the API key, an idempotency key) before any request.

HTTP clients refuse a header value with a line break (header injection) and encode the others
as latin-1, so a key pasted over two lines or with a typographic character fails deep inside
the client, with the value itself in the exception's arguments. These checks say what is wrong
first, and never quote the value: it may be a secret.
"""

from __future__ import annotations

import unicodedata


def header_value_problem(value: str) -> str | None:
    """
    What makes ``value`` unusable as a header value, or ``None`` if it is fine.

    The description never quotes the value, nor any character of it.

    :param value: The value, already stripped of surrounding whitespace.
    """
    if not value:
        return "is empty"
    if "\n" in value or "\r" in value:
        return "contains a line break: paste it on one line"
    if any(unicodedata.category(char) == "Cc" for char in value):
        return "contains a control character (e.g. a tab): paste it again as plain text"
    if any(char.isspace() for char in value):
        return "contains a space: paste it again without spaces"
    if not value.isascii():
        return (
            "contains a character that is not plain ASCII (e.g. a typographic quote or dash, often "
            "from a rich-text paste): paste it again as plain text"
        )
    return None
