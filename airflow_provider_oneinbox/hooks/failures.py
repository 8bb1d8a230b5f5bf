"""
The errors of an exchange that failed below HTTP, worded alike for both hooks.

Each says what happened in words a newcomer can act on (is the server running? does it speak
TLS?), keeps ``request_sent`` right (a failed connect or TLS handshake sent nothing, which the
place-call operator relies on) and is redacted of every secret.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from airflow_provider_oneinbox.exceptions import (
    OneInboxConnectError,
    OneInboxResponseTooLargeError,
    OneInboxTimeoutError,
    OneInboxTLSError,
    OneInboxTransportError,
)
from airflow_provider_oneinbox.hooks.api import ApiRequest
from airflow_provider_oneinbox.hooks.redaction import redact
from airflow_provider_oneinbox.hooks.responses import transport_error
from airflow_provider_oneinbox.hooks.settings import OneInboxSettings

#: How OpenSSL reports a TLS client talking to a plain-http server.
_PLAIN_HTTP_SIGNS = ("wrong_version_number", "wrong version number", "record layer failure", "http_request")
_NOT_SENT = "the request was not sent"


def _proxy_secrets(proxy: str | None) -> list[str]:
    """The proxy URL and its password, raw and unquoted: a client may quote the URL re-spelled."""
    if not proxy:
        return []
    password = urlsplit(proxy).password or ""
    return [proxy, *(value for value in {password, unquote(password)} if value)]


def _clean(settings: OneInboxSettings, request: ApiRequest, text: str) -> str:
    return redact(text, settings.api_key, *request.secrets, *_proxy_secrets(settings.proxy))


def _where(settings: OneInboxSettings) -> str:
    return settings.base_url + (" through the configured proxy" if settings.proxy else "")


def connect_failure(settings: OneInboxSettings, request: ApiRequest, reason: str) -> OneInboxConnectError:
    """
    No connection could be made (refused, unresolvable, unreachable).

    :param settings: The connection's settings.
    :param request: The request that was not sent.
    :param reason: What the client said.
    """
    return OneInboxConnectError(
        f"OneInbox API {request.label}: could not connect to {_where(settings)}: is the server "
        f"running? ({_clean(settings, request, reason)}; {_NOT_SENT})",
        method=request.method,
        path=request.path,
    )


def tls_failure(settings: OneInboxSettings, request: ApiRequest, reason: str) -> OneInboxTLSError:
    """
    The TLS handshake failed; the message shows the likely fix.

    :param settings: The connection's settings.
    :param request: The request that was not sent.
    :param reason: What the client said.
    """
    said = _clean(settings, request, reason)
    lowered = said.lower()
    message = (
        f"OneInbox API {request.label}: the TLS handshake with {_where(settings)} failed "
        f"({said}; {_NOT_SENT})."
    )
    if any(sign in lowered for sign in _PLAIN_HTTP_SIGNS) or settings.scheme_defaulted:
        assumed = (
            " The connection names no scheme, so https was assumed." if settings.scheme_defaulted else ""
        )
        message += (
            f"{assumed} If the server speaks plain http (e.g. the simulator on this machine), put /http "
            "as the URI's path (oneinbox://:KEY@127.0.0.1:8123/http) or set the host to "
            "http://127.0.0.1:8123; plain http is allowed for loopback hosts only"
        )
    elif "certificate" in lowered:
        message += (
            " The server's certificate is not trusted: give its CA bundle's path in the extra "
            "'verify', or fix the certificate"
        )
    return OneInboxTLSError(message, method=request.method, path=request.path)


def timeout_failure(
    settings: OneInboxSettings, request: ApiRequest, budget: float, *, request_sent: bool
) -> OneInboxTimeoutError:
    """
    The exchange (connect, headers and body) did not end within its deadline.

    :param settings: The connection's settings.
    :param request: The request.
    :param budget: The seconds it had.
    :param request_sent: Whether a connection had been made (so the request may have arrived).
    """
    message = (
        f"OneInbox API {request.label} did not complete within {budget:.3g} s "
        f"(connect, headers and body) at {settings.base_url}"
    )
    if not request_sent:
        message += f" (no connection was made; {_NOT_SENT})"
    elif not request.repeat_safe:
        message += f". {request.unsafe_note}"
    return OneInboxTimeoutError(
        message, timeout=budget, request_sent=request_sent, method=request.method, path=request.path
    )


def dropped(
    settings: OneInboxSettings, request: ApiRequest, what: str, reason: str
) -> OneInboxTransportError:
    """
    The connection broke after the request may have been sent (reset, closed, a cut body).

    :param settings: The connection's settings.
    :param request: The request.
    :param what: What happened, e.g. ``"the response was cut off"``.
    :param reason: What the client said.
    """
    return transport_error(
        request,
        f"{what} ({_clean(settings, request, reason)})",
        request_sent=True,
        secret=settings.api_key,
    )


def unsendable(
    settings: OneInboxSettings, request: ApiRequest, error: BaseException
) -> OneInboxTransportError:
    """
    The client refused to send the request (a header it cannot encode, a malformed URL).

    Only the exception's class is named: its arguments may hold the offending value (a key).

    :param settings: The connection's settings.
    :param request: The request.
    :param error: What the client raised.
    """
    return transport_error(
        request,
        f"the HTTP client could not send it ({type(error).__name__}: a header or the URL is invalid)",
        request_sent=False,
        secret=settings.api_key,
        transient=False,
    )


def too_large(
    settings: OneInboxSettings, request: ApiRequest, status: int, declared: int | None
) -> OneInboxResponseTooLargeError:
    """
    The body is larger than ``max_response_bytes``; reading stopped at the cap.

    :param settings: The connection's settings.
    :param request: The request.
    :param status: The response's status.
    :param declared: Its ``Content-Length``, when it declared one past the cap.
    """
    limit = settings.max_response_bytes
    size = f"declares {declared} bytes" if declared is not None else f"passed {limit} bytes"
    message = (
        f"OneInbox API {request.label} answered {status} with a body that {size}, over the connection's "
        f"max_response_bytes={limit}; it was not read further"
    )
    if not request.repeat_safe:
        message += f". {request.unsafe_note}"
    return OneInboxResponseTooLargeError(
        message, limit=limit, method=request.method, path=request.path, status_code=status
    )


def cut_after_head(settings: OneInboxSettings, request: ApiRequest, status: int) -> OneInboxTransportError:
    """
    The response had a status line but no body framing and no body: the connection was cut.

    :param settings: The connection's settings.
    :param request: The request.
    :param status: The status the cut response carried.
    """
    return dropped(
        settings,
        request,
        f"the response was cut off after its status line ({status}, no length and no body)",
        "connection closed",
    )
