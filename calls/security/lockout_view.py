"""The page a locked-out sign-in gets (settings.AXES_LOCKOUT_CALLABLE), from either sign-in form."""

from __future__ import annotations

import math
from typing import Any

from axes.helpers import get_client_username
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from calls.security import signin_outage, signin_throttle
from calls.security.signin_outage import SignInUnavailable


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """429 with when to try again. It never says whether the username or the address is locked,
    nor whether such a user exists."""
    try:
        until = signin_throttle.locked_until(
            get_client_username(request, credentials), getattr(request, "axes_ip_address", None)
        )
    except SignInUnavailable:  # the cache stopped answering since it refused this sign-in
        return signin_outage.unavailable(request)
    if until is None:  # the lock ended between the refusal and this answer
        until = timezone.now()
    seconds = max(0, math.ceil((until - timezone.now()).total_seconds()))
    response = render(request, "calls/locked_out.html", {"until": until}, status=429)
    response["Retry-After"] = str(seconds)
    return response
