"""Sessions end after BLUDASH_SESSION_IDLE_HOURS (settings.SESSION_COOKIE_AGE) in which nobody
used them: each request of a person saves the session again, which moves its end, in the session
store and in the cookie, that far ahead. At most once a minute, since each save is a write.

A page's live refresh (static/js/bludash.js, sent with X-Requested-With: fetch) is not someone
using the session: it is the page's own timer, and an open tab nobody looks at would otherwise
stay signed in for good, which is what an idle timeout is there to end. Once the session has
ended, a live refresh is sent to the sign-in page and the page marks its figures stale ("signed
out"). The header is the script's own word for it: a client that forges it only gives up
activity it could have claimed.

The other half of ending sessions needs nothing here: a password changed (on the password change
form, in the admin, with `manage.py changepassword`) changes the user's session auth hash, and
Django's AuthenticationMiddleware signs out every session made with the old one; the form keeps
the session that changed it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

ACTIVE_AT = "bludash_active_at"  # in the session: when it last saw a person (Unix seconds)
RESAVE_SECONDS = 60


def is_live_refresh(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


class SessionActivityMiddleware:
    """After SessionMiddleware and AuthenticationMiddleware: marks a signed-in person's request
    as activity, so that SessionMiddleware saves the session with a new end."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        # After the view: a sign-in has made its new session, a sign-out has left none to mark.
        if user is None or not user.is_authenticated or is_live_refresh(request):
            return response
        now = int(time.time())
        last = request.session.get(ACTIVE_AT)
        if not isinstance(last, int) or now - last >= RESAVE_SECONDS:
            request.session[ACTIVE_AT] = now  # modified: saved, and its end moved
        return response
