"""Errors with a machine-readable ``code`` beside FastAPI's ``detail``, as some reference pages show."""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse


class ApiError(Exception):
    """
    An error answered as ``{"detail": ..., "code": ...}`` (``code`` left out when ``None``).

    :param status: HTTP status.
    :param detail: Human-readable message.
    :param code: Machine-readable code, e.g. ``VOICE_NOT_FOUND``.
    :param headers: Extra response headers (e.g. ``Retry-After``).
    """

    def __init__(
        self, status: int, detail: str, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.headers = headers or {}


async def api_error_handler(_: Request, exc: Exception) -> JSONResponse:
    """The response for an :class:`ApiError`."""
    assert isinstance(exc, ApiError)
    content: dict[str, str] = {"detail": exc.detail}
    if exc.code is not None:
        content["code"] = exc.code
    return JSONResponse(content, status_code=exc.status, headers=exc.headers)


def not_found(what: str) -> HTTPException:
    """FastAPI-shaped 404."""
    return HTTPException(status_code=404, detail=f"{what} not found")
