"""Failed sign-ins, counted per username and per address, each against its own limit.

django-axes supplies the rest: the backend (SignInTryBackend here extends it) that refuses a locked
sign-in before any password is checked, the middleware that answers it with the locked-out page,
the user_locked_out signal, and `manage.py axes_reset_username` / `axes_reset_ip` to lift a lock
by hand. Its own handlers hold one limit for every parameter they count by; a person's few tries
must not share a number with an office's many, so LoginThrottle (settings.AXES_HANDLER) counts
here, in the shared cache.

A username reaching its limit is locked from everywhere, whether or not such a user exists (so the
lock says nothing about who exists); an address reaching its limit is locked for every username.
Failures are forgotten a cool-off after the latest; a lock lasts one cool-off and is not extended by
the refused tries made during it, so the time the page promises holds.

A try is counted before its password is checked (SignInTryBackend, first of the backends), not
after it failed: guesses sent in parallel, one per web worker, would otherwise all pass the lock
check before any of them was counted. The count is one atomic increment, so of any number of
parallel guesses at most the limit reach a password check; a try that succeeds is taken back off
the address's count (and the username's count is forgotten, as after any sign-in). A try that
ends in neither (the right password on a form that then refuses the user, as the admin's does
whoever is not staff; a check an error cut short) is taken back off both when its request ends
(UnfinishedTryMiddleware): it is no failure, and nothing would ever lock on it.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied, AxesBackendRequestParameterRequired
from axes.handlers.base import AbstractAxesHandler, AxesBaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_credentials
from axes.signals import user_locked_out
from django.conf import settings
from django.core.cache import cache

from calls.security.signin_outage import SignInUnavailable, needs_cache

USER, ADDRESS = "user", "address"


@dataclass(frozen=True)
class Counter:
    kind: str  # USER or ADDRESS
    value: str
    limit: int

    def _key(self, what: str) -> str:
        # Hashed: usernames are whatever was typed, and cache keys have rules.
        digest = hashlib.sha256(self.value.encode()).hexdigest()
        return f"bludash:login:{what}:{self.kind}:{digest}"

    @property
    def failures_key(self) -> str:
        return self._key("failures")

    @property
    def lock_key(self) -> str:
        return self._key("lock")


def _counters(username: str | None, address: str | None) -> list[Counter]:
    counters = []
    # The form strips and NFKC-normalizes; case is folded too, so "Boss" and "boss" share a count.
    name = (username or "").strip().casefold()
    if name:
        counters.append(Counter(USER, name, settings.BLUDASH_LOGIN_FAILURES_PER_USER))
    if address:
        counters.append(Counter(ADDRESS, address, settings.BLUDASH_LOGIN_FAILURES_PER_ADDRESS))
    return counters


def _cooloff_seconds() -> int:
    return max(1, int(settings.BLUDASH_LOGIN_COOLOFF.total_seconds()))


@needs_cache
def locked_until(username: str | None, address: str | None) -> datetime | None:
    """When the later of the username's and the address's locks ends; None if neither is locked."""
    return _locked_until(_counters(username, address))


def _locked_until(counters: list[Counter]) -> datetime | None:
    ends = cache.get_many([c.lock_key for c in counters]).values()
    now = time.time()
    later = [end for end in ends if end > now]
    return datetime.fromtimestamp(max(later), tz=UTC) if later else None


@dataclass(frozen=True)
class Try:
    """A sign-in try counted before its password is checked: each counter with the count this
    try got (the counts of one counter are handed out one each, in order)."""

    counted: tuple[tuple[Counter, int], ...]


def _count(counter: Counter) -> int:
    timeout = _cooloff_seconds()
    if cache.add(counter.failures_key, 1, timeout=timeout):
        return 1
    try:
        count = cache.incr(counter.failures_key)
    except ValueError:  # expired between add and incr
        cache.add(counter.failures_key, 1, timeout=timeout)
        return 1
    # Also gives a TTL back to a key incr re-created, had it expired between its check and INCR.
    cache.touch(counter.failures_key, timeout=timeout)
    return count


def _uncount(counter: Counter) -> None:
    try:
        left = cache.decr(counter.failures_key)
    except ValueError:  # gone meanwhile (a lock started a fresh count, or it expired)
        return
    if left <= 0:  # nothing counted any more, or a key DECR re-created without a TTL
        cache.delete(counter.failures_key)


@needs_cache
def begin_try(username: str | None, address: str | None) -> Try | None:
    """Counts one try against the username and the address before any password is checked.
    None when it is refused, uncounted: a lock is on, or tries still in flight have already
    taken the limit."""
    counters = _counters(username, address)
    if _locked_until(counters) is not None:
        return None
    counted = tuple((counter, _count(counter)) for counter in counters)
    # Looked at again after counting: a lock set meanwhile restarted its counter, so a count of
    # 1 may follow the limit-th failure. The lock is set before its counter is cleared, so every
    # try counted after that sees it here.
    if any(count > c.limit for c, count in counted) or _locked_until(counters) is not None:
        for counter, _ in counted:
            _uncount(counter)
        return None
    return Try(counted)


@needs_cache
def try_failed(attempt: Try) -> list[str]:
    """The try's password was wrong: it stays counted. Returns which of USER and ADDRESS it
    locked, having reached the limit (usually none)."""
    timeout = _cooloff_seconds()
    locked = []
    for counter, count in attempt.counted:
        if count >= counter.limit:
            cache.set(counter.lock_key, time.time() + timeout, timeout=timeout)
            cache.delete(counter.failures_key)  # after the lock, a fresh count
            locked.append(counter.kind)
    return locked


@needs_cache
def try_succeeded(attempt: Try | None, username: str) -> None:
    """A successful sign-in clears its username's count, and takes its own try off the
    address's count (one account of one's own must not reset the count against everyone
    else's, nor should signing in count as a failure)."""
    for counter in _counters(username, None):
        cache.delete(counter.failures_key)
    for counter, _ in attempt.counted if attempt else ():
        if counter.kind == ADDRESS:
            _uncount(counter)


@needs_cache
def withdraw(attempt: Try) -> None:
    """Takes a try that neither failed nor signed anyone in back off every count it added."""
    for counter, _ in attempt.counted:
        _uncount(counter)


@needs_cache
def record_failure(username: str | None, address: str | None) -> list[str]:
    """Counts a failed sign-in no try was begun for; returns which of USER and ADDRESS it
    locked (usually none)."""
    counters = _counters(username, address)
    return try_failed(Try(tuple((counter, _count(counter)) for counter in counters)))


@needs_cache
def reset(username: str | None = None, address: str | None = None) -> int:
    """Lifts the locks and clears the counts of a username and/or an address; returns how many
    entries there were."""
    keys = [key for c in _counters(username, address) for key in (c.failures_key, c.lock_key)]
    found = len(cache.get_many(keys))
    cache.delete_many(keys)
    return found


# Where the try a backend counted waits for its outcome (a failure signal, or a sign-in).
_TRY = "bludash_sign_in_try"
_REFUSED = "bludash_refused_while_locked"


def _take_try(request: Any) -> Try | None:
    attempt = getattr(request, _TRY, None)
    if attempt is not None:
        delattr(request, _TRY)
    return attempt


def refused_while_locked(request: Any) -> bool:
    """Whether this request's sign-in was refused unread, its password never checked."""
    return bool(getattr(request, _REFUSED, False))


def sign_in_succeeded(request: Any, username: str) -> None:
    """The password of this request's try was right (a sign-in, or a password change's old
    password): try_succeeded for it."""
    # Should the cache have stopped answering since the try was counted, the counts run out by
    # themselves and what the right password was for goes on.
    with contextlib.suppress(SignInUnavailable):
        try_succeeded(_take_try(request), username)


def conclude_unfinished_try(request: Any) -> None:
    """Withdraws the try this request began if nothing ended it: no failure was signalled and
    nobody signed in. Left counted, such tries (a user the admin's form refuses, typing the right
    password again and again) reached the limit with no failure to lock on: the username, then
    the address, were refused on every form with no lock to end, each refusal keeping the count
    alive."""
    attempt = _take_try(request)
    if attempt is not None:
        with contextlib.suppress(SignInUnavailable):  # the counts then run out by themselves
            withdraw(attempt)


class UnfinishedTryMiddleware:
    """Ends each request's sign-in try that neither failed nor succeeded
    (conclude_unfinished_try), once the view has answered or raised."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        response = self.get_response(request)
        conclude_unfinished_try(request)
        return response


class SignInTryBackend(AxesStandaloneBackend):
    """First of settings.AUTHENTICATION_BACKENDS: counts the try (begin_try) and refuses it when
    locked, before the backends after it check any password. It never signs anyone in."""

    def authenticate(  # type: ignore[override]
        self,
        request: Any,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            raise AxesBackendRequestParameterRequired(
                "SignInTryBackend needs the request to count a sign-in try"
            )
        AxesProxyHandler.update_request(request)  # sets axes_ip_address
        credentials = get_credentials(username=username, password=password, **kwargs)
        attempt = begin_try(get_client_username(request, credentials), request.axes_ip_address)
        if attempt is None:
            setattr(request, _REFUSED, True)
            # Django's authenticate() sends user_login_failed for this; the middleware then
            # answers with the locked-out page.
            raise AxesBackendPermissionDenied("sign-in refused: locked")
        setattr(request, _TRY, attempt)


class LoginThrottle(AbstractAxesHandler, AxesBaseHandler):
    """axes's handler interface over the functions above (axes sets request.axes_ip_address)."""

    def is_locked(self, request: Any, credentials: dict | None = None) -> bool:
        username = get_client_username(request, credentials)
        return locked_until(username, request.axes_ip_address) is not None

    @needs_cache
    def get_failures(self, request: Any, credentials: dict | None = None) -> int:
        counters = _counters(get_client_username(request, credentials), request.axes_ip_address)
        counts = cache.get_many([c.failures_key for c in counters]).values()
        return max(counts, default=0)

    def user_login_failed(
        self, sender: Any, credentials: dict, request: Any = None, **kwargs: Any
    ) -> None:
        if request is None:
            return  # authenticate() without a request: nothing to count against
        username = get_client_username(request, credentials)
        address = request.axes_ip_address
        attempt = _take_try(request)
        if attempt is not None or not refused_while_locked(request):
            # A password was checked and was wrong (counted when the try began, or now when
            # another backend refused it without one).
            locked = try_failed(attempt) if attempt else record_failure(username, address)
            if not locked:
                return
            user_locked_out.send(
                "axes", request=request, username=username, ip_address=address, locked=locked
            )
        # Else refused by the lock before any password was checked: not a new failure, and not
        # audited one by one (calls/audit/sign_ins.py), or a locked-out script could fill the
        # audit log at will; the lockout itself is in it.
        # The middleware answers with the locked-out page instead of the form.
        request.axes_locked_out = True
        request.axes_credentials = credentials

    def user_logged_in(self, sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        sign_in_succeeded(request, user.get_username())

    def user_logged_out(self, sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        pass

    def reset_attempts(
        self,
        *,
        ip_address: str | None = None,
        username: str | None = None,
        ip_or_username: bool = False,
    ) -> int:
        if ip_address is None and username is None:
            # The cache cannot list keys portably; name the username or the address.
            raise NotImplementedError("Give a username or an address to reset")
        return reset(username, ip_address)
