"""Tasks first named by a callback. Blu signs no callback, so whoever holds an account's token
could name a new task in every request, each then synced, found unknown at Blu and asked about
again (unknown_tasks.py). An account's callbacks may add at most
BLUDASH_CALLBACK_NEW_TASKS_PER_HOUR new tasks in any hour; a callback naming one more is refused
whole. Tasks people register are not counted, nor limited here.

The count is the tasks themselves, in the database, taken under the account's row lock: every
process on every machine counts the same rows, the count and the insert cannot be split by a
writer in between, and neither a restart nor a cache flush or eviction reopens the cap. A counter
in the shared cache (as rate_limit.py keeps) would count attempts rather than tasks, and could
lose its count to an eviction. A new task is rare: the count costs one indexed query, only for
a callback that names a task nobody knows.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from calls.models import BluAccount, Task, lock_account_writes

WINDOW = timedelta(hours=1)


class TooManyNewTasks(Exception):
    """The account's callbacks have added their share of new tasks this hour; nothing stored."""

    def __init__(self, limit: int, retry_after: int) -> None:
        self.limit = limit
        self.retry_after = retry_after  # seconds until a new task would be let in
        super().__init__(f"more than {limit} new tasks from callbacks in an hour")


def task_for_callback(account: BluAccount, blu_task_id: str) -> tuple[Task, bool]:
    """The task a callback names, and whether it is new. Raises TooManyNewTasks, creating
    nothing, when the account's callbacks have added BLUDASH_CALLBACK_NEW_TASKS_PER_HOUR tasks in
    the last hour. Runs inside the transaction that writes the callback's records."""
    task_id = str(blu_task_id).strip()
    known = Task.objects.filter(account=account, blu_task_id=task_id).first()
    if known is not None:
        return known, False
    # The account's write turn, taken before counting: a concurrent callback naming another new
    # task waits here until this one commits, then counts it.
    lock_account_writes(account.pk)
    known = Task.objects.filter(account=account, blu_task_id=task_id).first()
    if known is not None:  # made by the callback we waited for
        return known, False
    now = timezone.now()
    limit = settings.BLUDASH_CALLBACK_NEW_TASKS_PER_HOUR
    recent = Task.objects.filter(
        account=account, learned_from_callback=True, first_seen_at__gt=now - WINDOW
    )
    added = recent.count()
    if added >= limit:
        raise TooManyNewTasks(limit, _seconds_until_room(recent, added, limit, now))
    task = Task.objects.create(
        account=account, blu_task_id=task_id, learned_from_callback=True, first_seen_at=now
    )
    return task, True


def _seconds_until_room(recent: QuerySet[Task], added: int, limit: int, now: datetime) -> int:
    """Seconds until enough of the hour's new tasks are an hour old for one more to fit."""
    if limit == 0:
        return int(WINDOW.total_seconds())
    leaving = recent.order_by("first_seen_at").values_list("first_seen_at", flat=True)
    oldest = leaving[added - limit]
    return max(1, math.ceil((oldest + WINDOW - now).total_seconds()))
