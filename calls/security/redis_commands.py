"""The shared cache's own Redis client, for counters that want a command Django's cache API has
no call for (one INCR that makes the key, a pipeline), so that each costs one round trip.

Keys are the cache's own (its make_and_validate_key), and Django stores a whole number as its
digits, so what INCR leaves is what the cache's get reads. bludash's cache backend
(bludash/redis_cache.py) keeps one client a pool, so asking for it costs nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache


def client_of_default() -> tuple[Any, Any] | None:
    """(the default cache, its redis-py client) when that cache is Redis, else None (the
    callers then use the cache's plain calls)."""
    cache = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(cache, RedisCache):
        return cache, cache._cache.get_client(write=True)
    return None
