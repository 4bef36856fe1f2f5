"""How many callbacks each account received, and how many were refused and why, and what Blu's
pre-dial checks were answered (PREDIAL): counters in the shared cache (Redis in production), so that
every web process adds to the same ones and a scrape of any process reads them all
(calls/health/metrics.py).

The cache rather than a table: counting is one atomic INCR a callback, with no write to the
database that the callback's own rows are competing for, and no migration. The price: the counts
start again from zero when the cache is emptied, which Prometheus reads as a counter reset (its
rate() is unaffected). A cache that does not answer costs the count, never the callback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.core.cache import cache

from calls.security import redis_commands

logger = logging.getLogger(__name__)

ACCEPTED = "accepted"
# Why a callback was refused, each with the answer it got.
UNKNOWN_URL = "unknown_token"  # 404: no enabled account has the URL's token
RATE_LIMITED = "rate_limited"  # 429: BLUDASH_CALLBACK_RATE_PER_MINUTE
TOO_LARGE = "too_large"  # 413: BLUDASH_CALLBACK_MAX_BYTES
BAD_BODY = "bad_body"  # 400: not a callback Blu would send
TOO_MANY_NEW_TASKS = "too_many_new_tasks"  # 429: BLUDASH_CALLBACK_NEW_TASKS_PER_HOUR
REASONS = (UNKNOWN_URL, RATE_LIMITED, TOO_LARGE, BAD_BODY, TOO_MANY_NEW_TASKS)
OUTCOMES = (ACCEPTED, *REASONS)

# The pre-dial checks' answers and refusals (calls/endpoints/predial.py): the refusals are the
# callback's; "undecided_*" are checks answered with BLUDASH_PREDIAL_UNDECIDED's answer.
CALLBACKS = "callbacks"
PREDIAL = "predial"
GO = "go"
CANCEL = "cancel"
UNDECIDED_UNKNOWN_BORROWER = "undecided_unknown_borrower"
UNDECIDED_DATABASE = "undecided_database_down"
PREDIAL_OUTCOMES = (
    GO,
    CANCEL,
    UNDECIDED_UNKNOWN_BORROWER,
    UNDECIDED_DATABASE,
    UNKNOWN_URL,
    RATE_LIMITED,
    TOO_LARGE,
    BAD_BODY,
)
_OUTCOMES = {CALLBACKS: OUTCOMES, PREDIAL: PREDIAL_OUTCOMES}

# A request whose token names no account is counted under this id (no account has it).
NO_ACCOUNT = 0


def _key(account_pk: int, outcome: str, kind: str = CALLBACKS) -> str:
    return f"metrics:{kind}:{account_pk}:{outcome}"


def count(account_pk: int | None, outcome: str, kind: str = CALLBACKS) -> None:
    """Count one callback (or, kind=PREDIAL, one pre-dial check) for the account (None: the
    token named none) with its outcome."""
    key = _key(account_pk or NO_ACCOUNT, outcome, kind)
    try:
        redis = redis_commands.client_of_default()
        if redis is not None:
            # INCR makes a missing key at 1: the add and incr below in one round trip.
            backend, client = redis
            client.incr(backend.make_and_validate_key(key))
            return
        # add is SET NX and incr one INCRBY: concurrent callbacks in any process each count.
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except Exception as exc:  # an evicted key or a cache outage: this one goes uncounted
        logger.debug("Could not count a callback (%s)", type(exc).__name__)


def counts(account_pks: Iterable[int], kind: str = CALLBACKS) -> dict[tuple[int, str], int]:
    """Every counter of these accounts (and of tokens naming none) by (account id, outcome);
    those never counted are absent. Raises when the cache does not answer."""
    keys = {
        _key(pk, outcome, kind): (pk, outcome)
        for pk in (NO_ACCOUNT, *account_pks)
        for outcome in _OUTCOMES[kind]
    }
    found = cache.get_many(list(keys))
    return {keys[key]: int(value) for key, value in found.items()}
