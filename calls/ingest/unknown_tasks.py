"""A task Blu says it does not know: a made-up id a callback named, a mistyped one a person
registered, or one Blu has not made yet. Polling it every few minutes for 45 days would ask Blu
thousands of times for nothing, so it is asked again after BLUDASH_UNKNOWN_TASK_RETRY_SECONDS, then
twice as long each time, and no longer polled after BLUDASH_UNKNOWN_TASK_TRIES answers in a row.

A person brings it back (Blu may know it now): registering it again starts the tries over, and
any successful sync, such as `manage.py blu sync --task`, polls it again. A callback naming it
does not: Blu signs none, and a made-up task kept alive by callbacks would be polled for ever.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F

from calls.models import Task


def wait_after(tries: int) -> timedelta:
    """How long to wait before asking again once Blu has said `tries` times in a row that it
    does not know the task: the first wait, doubled for each further try."""
    return timedelta(seconds=settings.BLUDASH_UNKNOWN_TASK_RETRY_SECONDS * 2 ** (tries - 1))


def record_unknown(task_pk: int, now: datetime) -> int:
    """Count one more "Blu does not know this task" and schedule the next try from `now` (the
    database's clock, as due times are), or stop polling the task once that was the last try.
    Returns the tries in a row so far."""
    Task.objects.filter(pk=task_pk).update(blu_unknown_tries=F("blu_unknown_tries") + 1)
    tries = Task.objects.values_list("blu_unknown_tries", flat=True).get(pk=task_pk)
    if tries >= settings.BLUDASH_UNKNOWN_TASK_TRIES:
        Task.objects.filter(pk=task_pk).update(is_polled=False, next_poll_at=None)
    else:
        Task.objects.filter(pk=task_pk).update(next_poll_at=now + wait_after(tries))
    return tries


def record_known(task_pk: int) -> None:
    """Blu answered for the task: if it had said it did not know it, it is polled again."""
    Task.objects.filter(pk=task_pk, blu_unknown_tries__gt=0).update(
        blu_unknown_tries=0, is_polled=True
    )


def revive(task: Task) -> bool:
    """Poll a task Blu did not know again, from the first try and at once, because a person
    asked for it; False (and nothing changed) for any other task."""
    revived = Task.objects.filter(pk=task.pk, blu_unknown_tries__gt=0).update(
        blu_unknown_tries=0, is_polled=True, next_poll_at=None
    )
    if revived:
        task.refresh_from_db(fields=["blu_unknown_tries", "is_polled", "next_poll_at"])
    return bool(revived)
