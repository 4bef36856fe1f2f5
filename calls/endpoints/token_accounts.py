"""The account a callback or pre-dial URL's token names, from a copy of every account this process
keeps for a few seconds.

Every stored token is compared, each in constant time: `WHERE callback_token = ...` walks an
index and answers sooner the earlier a guess differs, which lets a patient caller learn the
token byte by byte. Accounts are few, so comparing them all costs nothing; loading them all for
each of Blu's requests did (an ORM query of every column, about 0.8 ms of the pre-dial check's
CPU), hence the copy.

The copy is dropped when an account is saved or deleted in this process (an admin's change, a
token regenerated, the account disabled: operations.py says so too, its update sends no signal)
and is read again after KEEP_SECONDS in any case: another web process (or another thread that
read the rows before the change was committed) sees such a change that much later, so an old
token goes on working there for at most KEEP_SECONDS.
"""

from __future__ import annotations

import copy
import hmac
import threading
import time
from typing import Any

from django.db.models.signals import post_delete, post_save

from calls.models import BluAccount

KEEP_SECONDS = 5.0


class _Copy:
    lock = threading.Lock()
    read_at = 0.0
    accounts: list[BluAccount] | None = None


def forget() -> None:
    """Drop this process's copy: the next request reads every account again."""
    with _Copy.lock:
        _Copy.accounts = None


def changed(**kwargs: Any) -> None:
    forget()


post_save.connect(changed, sender=BluAccount, dispatch_uid="token_accounts_saved")
post_delete.connect(changed, sender=BluAccount, dispatch_uid="token_accounts_deleted")


def _accounts() -> list[BluAccount]:
    now = time.monotonic()
    with _Copy.lock:
        accounts = _Copy.accounts
        if accounts is not None and now - _Copy.read_at < KEEP_SECONDS:
            return accounts
    # Read outside the lock: two threads may both read, either copy is as good. A database that
    # does not answer raises here, for the caller to answer as it does then.
    accounts = list(BluAccount.objects.order_by("pk"))
    with _Copy.lock:
        _Copy.accounts, _Copy.read_at = accounts, now
    return accounts


def account_for(token: str, field: str = "callback_token") -> BluAccount | None:
    """The enabled account whose token this is, or None (unknown or disabled alike): its
    callback token, or (field="predial_token") its pre-dial one. A copy of its own for the
    caller: the request may change it without another thread seeing."""
    given = token.encode()
    found = None
    for account in _accounts():
        same = hmac.compare_digest(given, getattr(account, field).encode())
        if same and account.is_polled:
            found = account
    return copy.copy(found) if found is not None else None
