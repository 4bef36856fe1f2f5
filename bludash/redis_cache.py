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
