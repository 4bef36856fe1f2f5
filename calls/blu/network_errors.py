"""Why a request to Blu got no answer at all, in words a person can act on: the host it went to
and the cause (refused, timed out, no such host, TLS).

The cause is read from the exception's chain of causes, never from its text: requests and
urllib3 write the URL into theirs, and a URL may carry a user and password, or be a recording's
bearer link.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NameResolutionError, ProtocolError


def host_of(url: str) -> str:
    """The host and port of `url` as a person types them ("api.blu.example", "10.0.0.5:8443"),
    without the user, password, path or query."""
    parts = urlsplit(url)
    host = parts.hostname or "an unreadable address"
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: requests wraps urllib3's MaxRetryError, whose `reason` wraps the
    socket's own error."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [getattr(current, "reason", None), current.__cause__, current.__context__]
        wrapped += list(current.args)
        todo += [each for each in wrapped if isinstance(each, BaseException)]


def _reason(exc: requests.RequestException) -> str:
    causes = list(_causes(exc))

    def found(*kinds: type[BaseException]) -> BaseException | None:
        return next((each for each in causes if isinstance(each, kinds)), None)

    if found(socket.gaierror, NameResolutionError):
        return "the host name does not resolve"
    if found(ConnectionRefusedError):
        return "connection refused"
    if (untrusted := found(ssl.SSLCertVerificationError)) is not None:
        detail = getattr(untrusted, "verify_message", "") or "not trusted"
        return f"its TLS certificate is refused ({detail})"
    if found(ssl.SSLError, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    if found(ConnectionResetError):
        return "the connection was reset"
    if found(http.client.RemoteDisconnected, ProtocolError):
        return "the connection closed before an answer"
    # The operating system's own words ("no route to host", "network is unreachable").
    system = next((each for each in causes if isinstance(each, OSError) and each.strerror), None)
    if system is not None and system.strerror:
        return system.strerror[:1].lower() + system.strerror[1:]
    return type(exc).__name__


def describe(
    exc: requests.RequestException, url: str, connect_timeout: float, read_timeout: float
) -> str:
    """What went wrong asking `url`, for a request that got no answer: "cannot reach Blu at
    api.blu.example: connection refused", "no answer from Blu at api.blu.example within 30 s"."""
    host = host_of(url)
    # ConnectTimeout is a Timeout too: it goes first.
    if isinstance(exc, requests.ConnectTimeout):
        return f"cannot reach Blu at {host}: timed out after {connect_timeout:g} s"
    if isinstance(exc, requests.Timeout):
        return f"no answer from Blu at {host} within {read_timeout:g} s"
    return f"cannot reach Blu at {host}: {_reason(exc)}"
