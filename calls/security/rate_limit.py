"""Counting requests per key and minute in the shared cache, to refuse a flood.

A fixed window: one counter per key per clock minute. A burst straddling a minute boundary may
pass twice the limit; that is enough to stop a flood, and costs one round trip a request on
Redis (a pipeline), two on Django's other caches.
"""

from __future__ import annotations

import time

from django.core.cache import cache

from calls.security import redis_commands

WINDOW_SECONDS = 60


def _window(key: str, now: float | None) -> tuple[float, int, str]:
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    return now, window, f"ratelimit:{key}:{window}"


def _left(now: float, window: int) -> int:
    return max(1, int((window + 1) * WINDOW_SECONDS - now))


def already_over(key: str, per_minute: int, now: float | None = None) -> int:
    """The seconds until the window ends when `key` has already passed `per_minute` in it, else
    0; counts nothing. For limits on failures only: a request is let through to fail or not,
    and counted (wait_seconds) only when it did."""
    now, window, counter = _window(key, now)
    if (cache.get(counter) or 0) <= per_minute:
        return 0
    return _left(now, window)


def wait_seconds(key: str, per_minute: int, now: float | None = None) -> int:
    """Count one request for `key`; 0 when it is within `per_minute`, else the seconds until the
    window ends (for Retry-After). Refused requests count too: a flood stays refused."""
    now, window, counter = _window(key, now)
    redis = redis_commands.client_of_default()
    if redis is not None:
        # The same two commands as below, sent together in one MULTI: one round trip, and
        # nothing can evict the key between them.
        backend, client = redis
        name = backend.make_and_validate_key(counter)
        with client.pipeline(transaction=True) as pipe:
            pipe.set(name, 0, ex=2 * WINDOW_SECONDS, nx=True)
            pipe.incr(name)
            count = pipe.execute()[1]
        return 0 if count <= per_minute else _left(now, window)
    # add is atomic (SET NX on Redis) and incr is one INCRBY: concurrent requests, in any process,
    # each get a count of their own. A get-then-set would let a burst through uncounted. The
    # counter outlives its minute, so it cannot expire between the add and the incr.
    cache.add(counter, 0, timeout=2 * WINDOW_SECONDS)
    try:
        count = cache.incr(counter)
    except ValueError:  # evicted in between: this request starts the count again
        cache.add(counter, 1, timeout=2 * WINDOW_SECONDS)
        count = 1
    if count <= per_minute:
        return 0
    return _left(now, window)
