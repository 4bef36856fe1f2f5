"""Which tasks to poll: registering a task, retiring tasks beyond Blu's query window, and taking
the due ones (each marked as queued, so that the next poll does not queue it again).

Queuing the jobs is the caller's: calls.tasks.poll_due_tasks, or register_task's callers through
calls.tasks.enqueue_sync once their transaction commits.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from calls.models import BluAccount, Task


def retire_old_tasks(now=None) -> int:
    """Stop polling tasks whose calls all lie beyond Blu's query window; their records stay."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.BLUDASH_QUERY_WINDOW_DAYS)
    beyond = Q(last_call_at__lt=cutoff) | Q(last_call_at__isnull=True, first_seen_at__lt=cutoff)
    return Task.objects.filter(beyond, is_polled=True).update(is_polled=False)


def _due(now) -> Q:
    return (
        Q(is_polled=True, account__is_polled=True)
        & (Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        & (Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lt=now))
    )


def due_task_ids() -> list[int]:
    """Polled tasks that are due and that no worker is syncing now, least recently synced first."""
    return list(
        Task.objects.filter(_due(timezone.now()))
        .order_by(F("last_sync_at").asc(nulls_first=True))
        .values_list("pk", flat=True)
    )


def take_due_tasks() -> list[int]:
    """The due tasks, each marked as queued so that later polls do not queue it again.

    The mark (next_poll_at pushed ahead) is replaced when the sync finishes; if the job is lost
    on the way, the task is due again once the mark runs out.
    """
    now = timezone.now()
    due = due_task_ids()
    if due:
        queued_until = now + timedelta(seconds=settings.BLUDASH_QUEUED_SECONDS)
        Task.objects.filter(_due(now), pk__in=due).update(next_poll_at=queued_until)
    return due


def register_task(account: BluAccount, blu_task_id: str, name: str = "") -> tuple[Task, bool]:
    """The task for this id, and whether it is new. A new task wants a sync as soon as it is
    committed: the caller queues one (calls.tasks.enqueue_sync_on_commit)."""
    task, created = Task.objects.get_or_create(
        account=account, blu_task_id=str(blu_task_id).strip(), defaults={"name": name}
    )
    return task, created
