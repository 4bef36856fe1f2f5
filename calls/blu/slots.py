"""How many requests go to one Blu account at once: a semaphore shared by every worker, thread
and machine, so that adding workers never floods Blu.

The slots of an account are a Redis sorted set of holders' tokens, each scored by the time its
slot expires (Redis's own clock, so the machines' clocks do not matter). A slot is taken by a
script that first drops the expired ones, so a holder that died mid-request frees its slot
once BLUDASH_BLU_SLOT_SECONDS have passed. A slot covers one HTTP request and is never renewed.

Without Redis (BLUDASH_BLU_SLOTS_URL unset: the SQLite demo, tests without REDIS_URL), and while
Redis does not answer, each process counts its own slots: the limit then holds per process.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

_KEY_PREFIX = "bludash:blu-slots:"
# KEYS[1]: the account's slots; ARGV: the slot's lifetime in ms, the limit, the holder's token.
_TAKE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[1]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


class AllTaken(Exception):
    """Every slot of the account stayed taken for the whole wait."""


def account_key(app_id: str, base_url: str) -> str:
    """One Blu account: an appId at its API address."""
    return f"{_KEY_PREFIX}{base_url.rstrip('/')}#{app_id}"


@contextmanager
def held(key: str) -> Iterator[None]:
    """Hold one of the account's BLUDASH_BLU_MAX_CONCURRENT slots for the block; raises AllTaken
    when none came free within BLUDASH_BLU_SLOT_WAIT_SECONDS."""
    limit = settings.BLUDASH_BLU_MAX_CONCURRENT
    wait = settings.BLUDASH_BLU_SLOT_WAIT_SECONDS
    url = settings.BLUDASH_BLU_SLOTS_URL
    release: Callable[[], None] | None = None
    if url:
        try:
            release = _take_shared(url, key, limit, wait)
        except redis.RedisError as exc:
            logger.warning("Counting Blu requests per process: Redis does not answer (%s)", exc)
    if release is None:
        release = _take_local(key, limit, wait)
    try:
        yield
    finally:
        release()


_state_lock = threading.Lock()
# Per process: a forked Celery worker must neither share its parent's Redis sockets nor inherit
# semaphores its parent's threads held.
_state: dict[str, Any] = {"pid": None, "clients": {}, "semaphores": {}}


def _process_state() -> dict[str, Any]:
    with _state_lock:
        if _state["pid"] != os.getpid():
            _state.update(pid=os.getpid(), clients={}, semaphores={})
        return _state


def _client(url: str) -> tuple[redis.Redis, Any]:
    """This process's client of the Redis at `url`, and the slot-taking script on it."""
    state = _process_state()
    with _state_lock:
        if url not in state["clients"]:
            # Short timeouts: a Redis that stopped answering must not hold the request longer
            # than Blu itself would.
            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            state["clients"][url] = (client, client.register_script(_TAKE))
        return state["clients"][url]


def _take_shared(url: str, key: str, limit: int, wait: float) -> Callable[[], None]:
    client, take = _client(url)
    token = uuid.uuid4().hex
    lifetime_ms = int(settings.BLUDASH_BLU_SLOT_SECONDS * 1000)
    deadline = time.monotonic() + wait
    pause = 0.01
    while not take(keys=[key], args=[lifetime_ms, limit, token]):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AllTaken(key)
        # Jittered and growing, so that waiting workers do not ask Redis in step.
        time.sleep(min(left, random.uniform(pause / 2, pause)))
        pause = min(pause * 2, 0.2)

    def release() -> None:
        try:
            client.zrem(key, token)
        except redis.RedisError as exc:
            logger.warning("Could not free a Blu slot (%s); it expires by itself", exc)

    return release


def _take_local(key: str, limit: int, wait: float) -> Callable[[], None]:
    state = _process_state()
    with _state_lock:
        semaphore = state["semaphores"].setdefault((key, limit), threading.BoundedSemaphore(limit))
    if not semaphore.acquire(timeout=wait):
        raise AllTaken(key)
    return semaphore.release
