"""When the cache that counts sign-in tries does not answer: signing in is refused with a page that
says why, and the outage is logged once per process, not once per try.

Without the cache no try can be counted, and a password checked uncounted is a guess the limit
never sees: the sign-in forms (the dashboard's, the admin's, the password change) then answer 503
instead of checking any password. Pages for people already signed in do not need the cache and go
on working.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# What a cache that does not answer raises: Redis's errors (refused, timed out, reset), and the
# OS's for the file-based cache of a machine without Redis.
CACHE_DOWN = (RedisError, OSError)
RETRY_AFTER_SECONDS = 60


class SignInUnavailable(Exception):
    """The cache that counts sign-in tries does not answer."""


_lock = threading.Lock()
_down = False  # this process has logged an outage the cache has not yet answered after


def _went_down(exc: BaseException) -> None:
    global _down
    with _lock:
        first, _down = not _down, True
    if first:
        # The error's class only: its text may carry the cache's address, whose URL may hold a
        # password.
        logger.error(
            "sign-in is unavailable: the cache that counts sign-in tries does not answer (%s); "
            "sign-ins are refused until it answers again",
            type(exc).__name__,
        )


def _answered() -> None:
    global _down
    if not _down:  # read without the lock: the usual case costs nothing
        return
    with _lock:
        was, _down = _down, False
    if was:
        logger.warning("sign-in is available again: the cache that counts sign-in tries answers")


P = ParamSpec("P")
R = TypeVar("R")


def needs_cache(function: Callable[P, R]) -> Callable[P, R]:
    """Runs `function`, which uses the cache, turning a cache that does not answer into
    SignInUnavailable (and the first such failure of an outage into one log line)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = function(*args, **kwargs)
        except CACHE_DOWN as exc:
            _went_down(exc)
            raise SignInUnavailable from exc
        _answered()
        return result

    return wrapper


def unavailable(request: HttpRequest) -> HttpResponse:
    """503 saying that signing in is unavailable, and why."""
    response = render(request, "calls/signin_unavailable.html", status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    # Logged once per outage above; Django would otherwise log every refused try as an error
    # (its log_response skips a response marked so).
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


class SignInOutageMiddleware:
    """Answers a sign-in the cache could not count (SignInUnavailable from any form's
    authenticate()) with the unavailable page instead of a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        if isinstance(exception, SignInUnavailable):
            return unavailable(request)
        return None
