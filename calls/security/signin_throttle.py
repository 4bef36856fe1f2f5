"""Failed sign-ins, counted per username and per address, each against its own limit.

django-axes supplies the rest: the backend that refuses a locked sign-in before any password is
checked, the middleware that answers it with the locked-out page, the user_locked_out signal, and
`manage.py axes_reset_username` / `axes_reset_ip` to lift a lock by hand. Its own handlers hold one
limit for every parameter they count by; a person's few tries must not share a number with an
office's many, so LoginThrottle (settings.AXES_HANDLER) counts here, in the shared cache.

A username reaching its limit is locked from everywhere, whether or not such a user exists (so the
lock says nothing about who exists); an address reaching its limit is locked for every username.
Failures are forgotten a cool-off after the latest; a lock lasts one cool-off and is not extended by
the refused tries made during it, so the time the page promises holds.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from axes.handlers.base import AbstractAxesHandler, AxesBaseHandler
from axes.helpers import get_client_username
from axes.signals import user_locked_out
from django.conf import settings
from django.core.cache import cache

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


def locked_until(username: str | None, address: str | None) -> datetime | None:
    """When the later of the username's and the address's locks ends; None if neither is locked."""
    counters = _counters(username, address)
    ends = cache.get_many([c.lock_key for c in counters]).values()
    now = time.time()
    later = [end for end in ends if end > now]
    return datetime.fromtimestamp(max(later), tz=UTC) if later else None


def record_failure(username: str | None, address: str | None) -> list[str]:
    """Counts one failed sign-in; returns which of USER and ADDRESS it locked (usually none)."""
    timeout = _cooloff_seconds()
    locked = []
    for counter in _counters(username, address):
        if cache.add(counter.failures_key, 1, timeout=timeout):
            count = 1
        else:
            try:
                count = cache.incr(counter.failures_key)
            except ValueError:  # expired between add and incr
                cache.add(counter.failures_key, 1, timeout=timeout)
                count = 1
            cache.touch(counter.failures_key, timeout=timeout)
        if count >= counter.limit:
            cache.set(counter.lock_key, time.time() + timeout, timeout=timeout)
            cache.delete(counter.failures_key)  # after the lock, a fresh count
            locked.append(counter.kind)
    return locked


def forget_failures(username: str) -> None:
    """A successful sign-in clears its username's count (not its address's: one account of
    one's own must not reset the count against everyone else's)."""
    for counter in _counters(username, None):
        cache.delete(counter.failures_key)


def reset(username: str | None = None, address: str | None = None) -> int:
    """Lifts the locks and clears the counts of a username and/or an address; returns how many
    entries there were."""
    keys = [key for c in _counters(username, address) for key in (c.failures_key, c.lock_key)]
    found = len(cache.get_many(keys))
    cache.delete_many(keys)
    return found


class LoginThrottle(AbstractAxesHandler, AxesBaseHandler):
    """axes's handler interface over the functions above (axes sets request.axes_ip_address)."""

    def is_locked(self, request: Any, credentials: dict | None = None) -> bool:
        username = get_client_username(request, credentials)
        return locked_until(username, request.axes_ip_address) is not None

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
        if locked_until(username, address) is None:
            locked = record_failure(username, address)
            if not locked:
                return
            user_locked_out.send(
                "axes", request=request, username=username, ip_address=address, locked=locked
            )
        else:
            # Refused by the lock before any password was checked: not a new failure, and not
            # audited one by one (calls/audit/sign_ins.py), or a locked-out script could fill the
            # audit log at will; the lockout itself is in it.
            request.bludash_refused_while_locked = True
        # The middleware answers with the locked-out page instead of the form.
        request.axes_locked_out = True
        request.axes_credentials = credentials

    def user_logged_in(self, sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        forget_failures(user.get_username())

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
