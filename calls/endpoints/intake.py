"""What Blu's two requests to us share before their bodies are read: the account from the URL's
token (compared in constant time), the per-account rate limit and the body size limit, each
refusal counted. The callback and the pre-dial check differ only in the token, the settings and
the counters they use."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.http import HttpRequest, JsonResponse

from calls.endpoints import token_accounts
from calls.health import callback_counts
from calls.models import BluAccount
from calls.security import rate_limit

logger = logging.getLogger(__name__)

# An error message quotes at most a few short values from the body (callbacks.quoted); this caps
# the whole, whatever a future message quotes.
MAX_MESSAGE = 200


def refusal(status: int, message: str) -> JsonResponse:
    return JsonResponse({"code": status, "message": message[:MAX_MESSAGE]}, status=status)


@dataclass(frozen=True)
class Door:
    """One of Blu's requests: what it is called in logs, its token field, its counters, and the
    settings' limits."""

    what: str  # "callback", "pre-dial check"
    token_field: str
    kind: str  # callback_counts.CALLBACKS or PREDIAL
    rate_key: str
    per_minute: int
    max_bytes: int


@dataclass(frozen=True)
class Admitted:
    account: BluAccount
    body: bytes


def admit(request: HttpRequest, token: str, door: Door) -> Admitted | JsonResponse | None:
    """The account and the body of a request through `door`, or the refusal to answer (429,
    413), or None when the token names no enabled account (the caller's 404)."""
    account = token_accounts.account_for(token, door.token_field)
    if account is None:
        callback_counts.count(None, callback_counts.UNKNOWN_URL, door.kind)
        return None
    wait = rate_limit.wait_seconds(f"{door.rate_key}:{account.pk}", door.per_minute)
    if wait:
        logger.warning("Refused a %s for account %s: over the rate limit", door.what, account.name)
        callback_counts.count(account.pk, callback_counts.RATE_LIMITED, door.kind)
        response = refusal(429, f"too many {door.what}s for this account; retry later")
        response["Retry-After"] = str(wait)
        return response
    limit = door.max_bytes
    declared = request.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        callback_counts.count(account.pk, callback_counts.TOO_LARGE, door.kind)
        return refusal(413, f"body over {limit} bytes")
    # Whatever the header said (Django reads at most Content-Length bytes, however it is
    # written), read one byte past the limit to know the body is too long without reading it all.
    body = request.read(limit + 1)
    if len(body) > limit:
        callback_counts.count(account.pk, callback_counts.TOO_LARGE, door.kind)
        return refusal(413, f"body over {limit} bytes")
    return Admitted(account, body)
