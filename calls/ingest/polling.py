"""Which tasks to poll: registering a task, retiring tasks beyond Blu's query window, and taking
the due ones (each marked as queued, so that the next poll does not queue it again).

Queuing the jobs is the caller's: calls.tasks.poll_due_tasks, or register_task's callers through
calls.tasks.enqueue_sync_on_commit once their transaction commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from calls.ingest import unknown_tasks
from calls.ingest.clock import db_now
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
        Task.objects.filter(_due(db_now()))
        .order_by(F("last_sync_at").asc(nulls_first=True))
        .values_list("pk", flat=True)
    )


def take_due_tasks() -> list[int]:
    """The due tasks, each marked as queued so that later polls do not queue it again.

    The mark (next_poll_at pushed ahead) is replaced when the sync finishes; if the job is lost
    on the way, the task is due again once the mark runs out.

    Two polls at once (a second beat started by mistake) take each task once: the due rows are
    locked as they are read, so the second poll waits for the first to commit its marks and
    then finds those tasks no longer due. Reading first and marking after would let both read
    the same tasks and both queue them. (SQLite's IMMEDIATE transactions take turns anyway.)
    """
    with transaction.atomic():
        now = db_now()
        due = list(
            Task.objects.filter(_due(now))
            # Only the tasks' rows: the accounts' stay free for the syncs recording outcomes.
            .select_for_update(of=("self",))
            .order_by(F("last_sync_at").asc(nulls_first=True))
            .values_list("pk", flat=True)
        )
        if due:
            queued_until = now + timedelta(seconds=settings.BLUDASH_QUEUED_SECONDS)
            Task.objects.filter(pk__in=due).update(next_poll_at=queued_until)
    return due


def register_task(account: BluAccount, blu_task_id: str, name: str = "") -> tuple[Task, bool]:
    """The task for this id, and whether it is new. A new task wants a sync as soon as it is
    committed: the caller queues one (calls.tasks.enqueue_sync_on_commit)."""
    task, created = Task.objects.get_or_create(
        account=account, blu_task_id=str(blu_task_id).strip(), defaults={"name": name}
    )
    return task, created


# A Blu task id is a number (docs/blu-api.md: "taskId ... a number"); several pasted ids are
# separated by spaces, commas, semicolons or new lines.
_TASK_ID = re.compile(r"[0-9]{1,20}")
_SEPARATORS = re.compile(r"[\s,;]+")
MAX_TASKS_AT_ONCE = 200


@dataclass
class Registration:
    added: list[Task] = field(default_factory=list)
    # Registered already, but no longer polled because Blu said it did not know them: a person
    # naming them again says Blu may know them now, so they are polled again from the first try.
    revived: list[Task] = field(default_factory=list)
    known: list[str] = field(default_factory=list)  # registered already: nothing done


class BadTaskIds(ValueError):
    """Ids that are no Blu task ids; nothing was registered."""


def parse_task_ids(text: str) -> list[str]:
    """The task ids in a pasted list, each once, in order; BadTaskIds names those that are not."""
    ids = [piece for piece in _SEPARATORS.split(text.strip()) if piece]
    if not ids:
        raise BadTaskIds("Paste at least one task id.")
    bad = [piece for piece in ids if not _TASK_ID.fullmatch(piece)]
    if bad:
        shown = ", ".join(repr(piece[:40]) for piece in bad[:5])
        raise BadTaskIds(f"Not a Blu task id: {shown}. A task id is a number of up to 20 digits.")
    unique = list(dict.fromkeys(ids))
    if len(unique) > MAX_TASKS_AT_ONCE:
        raise BadTaskIds(f"At most {MAX_TASKS_AT_ONCE} task ids at once ({len(unique)} given).")
    return unique


def register_tasks(account: BluAccount, task_ids: list[str]) -> Registration:
    """Register each id for the account, as a person asks; the caller queues a sync of each
    added and each revived task once committed, and audits each."""
    registration = Registration()
    for task_id in task_ids:
        task, created = register_task(account, task_id)
        if created:
            registration.added.append(task)
        elif unknown_tasks.revive(task):
            registration.revived.append(task)
        else:
            registration.known.append(task_id)
    return registration
