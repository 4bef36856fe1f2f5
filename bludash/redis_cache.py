"""Django's Redis cache, with one redis-py client kept per connection pool.

Django's RedisCacheClient builds a new `redis.Redis` for every cache call, and building one
registers its response callbacks anew (about 170 dictionary entries): for a callback, which makes
four cache calls (the rate limit and the count), that cost more CPU than the commands themselves
(bench/callbacks.py). A client over a pool may be shared by threads (it takes a connection from
the pool for each command and gives it back), so one is made per pool and kept. Everything else,
the pools, the serializer and every error a cache call raises, is Django's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class SharedClientRedisCacheClient(RedisCacheClient):
    # Django's, not in its type stubs.
    _client: Callable[..., Any]
    _get_connection_pool: Callable[[bool], Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[Any, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            # Two threads may both make one the first time: either is as good, one is kept.
            client = self._clients.setdefault(pool, self._client(connection_pool=pool))
        return client


class SharedClientRedisCache(RedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient


def client_of_default() -> tuple[Any, Any] | None:
    """(the default cache, its redis-py client) when that cache is this module's Redis cache,
    else None: for counters that want a command Django's cache API has no call for (one INCR
    that makes the key, a pipeline), so that each costs one round trip. Keys are the cache's own
    (its make_and_validate_key), and Django stores a whole number as its digits, so what INCR
    leaves is what the cache's get reads."""
    cache = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(cache, SharedClientRedisCache):
        return cache, cache._cache.get_client(write=True)
    return None
