"""What an admin does to Blu accounts and tasks, the same whether done in the admin or with
`manage.py blu`: enabling and disabling accounts (audited), stopping and resuming a task's
polling, removing a task that has no calls.

Calls are the record: nothing here deletes or blanks one. A disabled account or task keeps its
calls, and a task with calls cannot be removed (its calls protect it, in the admin too).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import ProtectedError
from django.http import HttpRequest

from calls.audit import trail
from calls.endpoints import token_accounts
from calls.ingest import lease
from calls.models import BluAccount, Task


def set_accounts_enabled(
    accounts: Iterable[BluAccount], *, enabled: bool, request: HttpRequest | None = None
) -> list[BluAccount]:
    """Enable or disable accounts: a disabled one is neither polled nor accepts callbacks; its
    calls stay. Returns the accounts switched, each audited; those that were so already are left
    as they are and not audited again."""
    candidates = [account.pk for account in accounts]
    action = trail.Action.ACCOUNT_ENABLED if enabled else trail.Action.ACCOUNT_DISABLED
    with transaction.atomic():
        # Locked, so that two admins switching the same account audit it once.
        switched = list(
            BluAccount.objects.select_for_update()
            .filter(pk__in=candidates, is_polled=not enabled)
            .order_by("name")
        )
        BluAccount.objects.filter(pk__in=[a.pk for a in switched]).update(is_polled=enabled)
        # An update sends no post_save: the token lookup's copy is dropped here.
        token_accounts.forget()
        for account in switched:
            account.is_polled = enabled
            trail.record(action, request, target=account.name)
    return switched


def set_task_polled(task: Task, *, polled: bool) -> bool:
    """Stop or resume polling a task; whether that changed anything. Its calls stay, and Blu's
    callbacks for it are stored either way. A resumed task is due at the next poll."""
    changes: dict[str, object] = {"is_polled": polled}
    if polled:
        changes["next_poll_at"] = None
    switched = Task.objects.filter(pk=task.pk, is_polled=not polled).update(**changes)
    task.refresh_from_db(fields=["is_polled", "next_poll_at"])
    return bool(switched)


@dataclass(frozen=True)
class TaskRemoval:
    """What removing a task deletes with it (and the calls that would stop it)."""

    calls: int
    sync_runs: int
    day_summaries: int


class TaskNotRemovable(Exception):
    """The task stays: it has calls, or a worker is syncing it now."""


def what_removing_deletes(task: Task) -> TaskRemoval:
    return TaskRemoval(
        calls=task.calls.count(),
        sync_runs=task.sync_runs.count(),
        day_summaries=task.day_summaries.count(),
    )


def remove_task(task: Task) -> TaskRemoval:
    """Delete a task that has no calls, with its sync runs and day summaries, as the admin's
    delete does. Blu keeps the task: registering it again brings its calls back.

    Raises TaskNotRemovable for a task with calls (the admin refuses those too: its calls
    protect it) and for one a worker is syncing, whose next page would find the task gone.
    """
    with transaction.atomic():
        # Locked: a sync writing the task's first call waits for this, or this for it.
        locked = Task.objects.select_for_update().filter(pk=task.pk).first()
        if locked is None:
            raise TaskNotRemovable(f"task {task.blu_task_id} is gone already")
        removal = what_removing_deletes(locked)
        if removal.calls:
            raise TaskNotRemovable(f"it has {removal.calls} calls")
        busy = lease.lease_seconds_left(locked.pk)
        if busy:
            raise TaskNotRemovable(
                f"a worker is syncing it; try again in {math.ceil(busy)} s at the latest"
            )
        try:
            locked.delete()
        except ProtectedError:
            raise TaskNotRemovable("calls were stored for it meanwhile") from None
    return removal
