"""The sync lease: one worker syncs a task at a time, and a dead worker's claim runs out.

The lease is two columns on Task (owner, until) changed by conditional UPDATEs: the row count
says who won, and the database serialises the race. Its times are the database's (clock.py).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q

from calls.ingest.clock import db_now
from calls.models import Task


class SyncBusy(Exception):
    """Another worker holds this task's sync lease."""


class LeaseLost(Exception):
    """This sync's lease expired and another worker took the task over."""


def claim(task_id: int, owner: str) -> bool:
    now = db_now()
    until = now + timedelta(seconds=settings.BLUDASH_SYNC_LEASE_SECONDS)
    free = Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lt=now)
    # The row count of a conditional UPDATE says who won; the database serialises the race.
    return (
        Task.objects.filter(free, pk=task_id).update(sync_owner=owner, sync_lease_until=until) == 1
    )


def renew(task_id: int, owner: str) -> bool:
    until = db_now() + timedelta(seconds=settings.BLUDASH_SYNC_LEASE_SECONDS)
    return Task.objects.filter(pk=task_id, sync_owner=owner).update(sync_lease_until=until) == 1


def release(task_id: int, owner: str) -> None:
    Task.objects.filter(pk=task_id, sync_owner=owner).update(sync_owner="", sync_lease_until=None)


def lease_seconds_left(task_id: int) -> float:
    """How long the task's sync lease still holds; 0 when nobody holds it."""
    until = Task.objects.filter(pk=task_id).values_list("sync_lease_until", flat=True).first()
    return 0.0 if until is None else max(0.0, (until - db_now()).total_seconds())
