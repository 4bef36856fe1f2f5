"""The lender's repayment tokens: made once and shown once, stored as a SHA-256 (a token is 32
random bytes, so no slow hash is needed to keep it from being guessed from its digest), found
by that digest and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.utils import timezone

from calls.models import RepaymentToken

PREFIX = "blurp_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(record: RepaymentToken) -> str:
    """Give `record` a new token (unsaved); returns the token, never stored."""
    token = PREFIX + secrets.token_urlsafe(32)
    record.token_hash = digest(token)
    record.hint = token[len(PREFIX) : len(PREFIX) + 6]
    return token


def holder(token: str) -> RepaymentToken | None:
    """The unrevoked token record `token` is, or None."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    wanted = digest(token)
    found = (
        RepaymentToken.objects.select_related("account")
        .filter(token_hash=wanted, revoked_at__isnull=True)
        .first()
    )
    if found is None or not hmac.compare_digest(found.token_hash, wanted):
        return None
    RepaymentToken.objects.filter(pk=found.pk).update(last_used_at=timezone.now())
    return found
