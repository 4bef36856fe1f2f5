"""Linking the calls stored before borrowers existed (or before an account's borrower keys
changed) to their borrowers: `blu borrowers backfill [--relink]`, once after the upgrade, and the
job queued when an admin saves new keys. In batches, each under the account's write turn, so it
runs beside syncs and callbacks; a second run changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from calls.ingest import borrowers
from calls.models import BluAccount, CallRecord, lock_account_writes


@dataclass
class BackfillResult:
    read: int = 0
    borrowers: int = 0


def backfill(
    account: BluAccount,
    *,
    relink: bool = False,
    batch_size: int = 2000,
    progress: Callable[[BackfillResult], None] | None = None,
) -> BackfillResult:
    """Link the account's stored calls to their borrowers, in batches of calls in id order, each
    in its own transaction under the account's write turn; a run stopped part way loses only its
    open batch, and a second run changes nothing. `relink` reads every call again (after the
    account's borrower keys changed); otherwise only calls not linked yet."""
    result = BackfillResult()
    calls = CallRecord.objects.filter(account_id=account.pk)
    if not relink:
        calls = calls.filter(borrower__isnull=True)
    position = 0
    while True:
        with transaction.atomic():
            # The batch is read under the account's write turn: read before it, a write that
            # commits while the backfill waits would be undone with the batch's old extVars.
            key_names = lock_account_writes(account.pk)
            batch = list(
                calls.filter(pk__gt=position)
                .order_by("pk")
                .values("pk", "call_id", "ext_vars", "user_id")[:batch_size]
            )
            if not batch:
                return result
            result.borrowers += len(borrowers.link_calls(account, batch, key_names=key_names))
        result.read += len(batch)
        position = batch[-1]["pk"]
        if progress:
            progress(result)
