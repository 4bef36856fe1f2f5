"""How current our copy of Blu is: the sync-health strip on the overview and the tasks page.
A handful of queries over the tasks table, never the calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Min, OuterRef, Q, Subquery
from django.utils import timezone

from .models import BluAccount, Task


@dataclass(frozen=True)
class FailingTask:
    pk: int
    label: str
    account: str
    last_sync_at: datetime | None
    error: str


@dataclass(frozen=True)
class FailingAccount:
    name: str
    polled_tasks: int
    error: str  # the latest error among its tasks


@dataclass(frozen=True)
class SyncHealth:
    """How current our copy of Blu is. "Polled" tasks are the ones the poller syncs: polled tasks
    of polled accounts."""

    checked_at: datetime
    tasks: int
    polled: int
    last_success_at: datetime | None  # of any task
    never_synced: int  # polled tasks that never synced successfully
    failing: int  # polled tasks whose last sync failed
    failing_tasks: list[FailingTask]  # the most recent few
    failing_accounts: list[FailingAccount]  # polled tasks, none of them syncing
    stalest: FailingTask | None  # the polled task whose last success is oldest
    stalest_success_at: datetime | None

    @property
    def since_last_success(self) -> timedelta | None:
        if self.last_success_at is None:
            return None
        return self.checked_at - self.last_success_at

    @property
    def behind(self) -> timedelta | None:
        if self.stalest_success_at is None:
            return None
        return self.checked_at - self.stalest_success_at

    @property
    def behind_limit(self) -> timedelta:
        """Behind by more than this is late: a quiet task is polled hourly, others every poll."""
        return timedelta(
            seconds=settings.BLUDASH_QUIET_POLL_SECONDS + 2 * settings.BLUDASH_POLL_SECONDS
        )

    @property
    def late(self) -> bool:
        behind = self.behind
        return behind is not None and behind > self.behind_limit

    @property
    def healthy(self) -> bool:
        return not (self.failing or self.never_synced or self.failing_accounts or self.late)


FAILING_SHOWN = 5
ERROR_SHOWN = 160


def _task_line(task: Task) -> FailingTask:
    return FailingTask(
        pk=task.pk,
        label=str(task),
        account=task.account.name,
        last_sync_at=task.last_sync_at,
        error=task.last_error[:ERROR_SHOWN],
    )


def sync_health(now: datetime | None = None) -> SyncHealth:
    """A handful of queries over the tasks table (thousands of rows, never the calls)."""
    polled = Q(is_polled=True, account__is_polled=True)
    # Aliases unlike any field name: an aggregate named after a field hides it from the others.
    totals = Task.objects.aggregate(
        n_tasks=Count("pk"),
        n_polled=Count("pk", filter=polled),
        latest_success=Max("last_success_at"),
        n_never_synced=Count("pk", filter=polled & Q(last_success_at__isnull=True)),
        n_failing=Count("pk", filter=polled & Q(last_sync_ok=False)),
        oldest_success=Min("last_success_at", filter=polled),
    )
    fields = ["pk", "blu_task_id", "name", "last_sync_at", "last_error", "account__name"]
    failing = (
        Task.objects.filter(polled, last_sync_ok=False)
        .select_related("account")
        .only(*fields)
        .order_by("-last_sync_at", "-pk")[:FAILING_SHOWN]
    )
    stalest = (
        Task.objects.filter(polled, last_success_at__isnull=False)
        .select_related("account")
        .only(*fields)
        .order_by("last_success_at", "pk")
        .first()
    )
    return SyncHealth(
        checked_at=now or timezone.now(),
        tasks=totals["n_tasks"],
        polled=totals["n_polled"],
        last_success_at=totals["latest_success"],
        never_synced=totals["n_never_synced"],
        failing=totals["n_failing"],
        failing_tasks=[_task_line(task) for task in failing],
        failing_accounts=_failing_accounts(),
        stalest=_task_line(stalest) if stalest else None,
        stalest_success_at=totals["oldest_success"],
    )


def _failing_accounts() -> list[FailingAccount]:
    """Polled accounts with polled tasks that have been tried, none of which syncs: a wrong key
    or a blocked account, more than one task's trouble."""
    polled_task = Q(tasks__is_polled=True)
    latest_error = (
        Task.objects.filter(account=OuterRef("pk"), is_polled=True, last_sync_ok=False)
        .order_by("-last_sync_at")
        .values("last_error")[:1]
    )
    accounts = (
        BluAccount.objects.filter(is_polled=True)
        .annotate(
            polled_tasks=Count("tasks", filter=polled_task),
            tried=Count("tasks", filter=polled_task & Q(tasks__last_sync_at__isnull=False)),
            syncing=Count("tasks", filter=polled_task & Q(tasks__last_sync_ok=True)),
            latest_error=Subquery(latest_error),
        )
        .filter(tried__gt=0, syncing=0)
        .order_by("name")
    )
    return [
        FailingAccount(a.name, a.polled_tasks, (a.latest_error or "")[:ERROR_SHOWN])
        for a in accounts
    ]
