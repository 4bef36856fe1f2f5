"""How current our copy of Blu is: the sync-health strip on the overview and the tasks page, the
admins' sync-health page and the failing-account flag. A handful of queries over the tasks and
accounts tables, never the calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Max, Min, Q, QuerySet
from django.utils import timezone

from calls.models import BluAccount, Task


def behind_limit() -> timedelta:
    """Behind by more than this is late: a quiet task is polled hourly, others every poll."""
    return timedelta(
        seconds=settings.BLUDASH_QUIET_POLL_SECONDS + 2 * settings.BLUDASH_POLL_SECONDS
    )


def is_late(behind: timedelta | None) -> bool:
    return behind is not None and behind > behind_limit()


def stuck_limit() -> timedelta:
    """A call Blu still reports in progress this long after it started is stuck."""
    return timedelta(hours=settings.BLUDASH_STUCK_CALL_HOURS)


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
        return behind_limit()

    @property
    def late(self) -> bool:
        return is_late(self.behind)

    @property
    def healthy(self) -> bool:
        return not (self.failing or self.never_synced or self.failing_accounts or self.late)


POLLED = Q(is_polled=True, account__is_polled=True)
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
    """Three queries over the tasks table (never the calls): the counts per account in one
    pass over a narrow index of every task (the totals and the failing accounts both come from
    it), and the few failing tasks and the stalest one, each the first rows of a partial index.
    At 20,000 tasks the counts were two passes and the lookups two more, each reading every
    task's row (20 to 25 ms each on a loaded machine)."""
    per_account = _counts_per_account()
    polled_accounts = {
        pk: name for pk, name in BluAccount.objects.filter(is_polled=True).values_list("pk", "name")
    }
    polled_rows = [row for row in per_account if row["account_id"] in polled_accounts]
    successes = [row["latest_success"] for row in per_account if row["latest_success"]]
    oldest = [row["oldest_success"] for row in polled_rows if row["oldest_success"]]
    fields = ["pk", "blu_task_id", "name", "last_sync_at", "last_error", "account__name"]
    failing = (
        Task.objects.filter(POLLED, last_sync_ok=False)
        .select_related("account")
        .only(*fields)
        .order_by("-last_sync_at", "-pk")[:FAILING_SHOWN]
    )
    stalest = (
        Task.objects.filter(POLLED, last_success_at__isnull=False)
        .select_related("account")
        .only(*fields)
        .order_by("last_success_at", "pk")
        .first()
    )
    return SyncHealth(
        checked_at=now or timezone.now(),
        tasks=sum(row["n_tasks"] for row in per_account),
        polled=sum(row["n_polled"] for row in polled_rows),
        last_success_at=max(successes, default=None),
        never_synced=sum(row["n_never_synced"] for row in polled_rows),
        failing=sum(row["n_failing"] for row in polled_rows),
        failing_tasks=[_task_line(task) for task in failing],
        failing_accounts=_failing_accounts(polled_rows, polled_accounts),
        stalest=_task_line(stalest) if stalest else None,
        stalest_success_at=min(oldest, default=None),
    )


def _counts_per_account() -> list[dict[str, Any]]:
    """Each account's task counts, in one pass over task_health_idx (an index-only scan where
    the table is vacuumed): its tasks, and of its polled tasks how many there are, never
    synced, failing, tried and syncing, with the latest and oldest success."""
    polled = Q(is_polled=True)
    # Aliases unlike any field name: an aggregate named after a field hides it from the others.
    rows = (
        Task.objects.order_by()
        .values("account_id")
        .annotate(
            n_tasks=Count("pk"),
            n_polled=Count("pk", filter=polled),
            latest_success=Max("last_success_at"),
            n_never_synced=Count("pk", filter=polled & Q(last_success_at__isnull=True)),
            n_failing=Count("pk", filter=polled & Q(last_sync_ok=False)),
            oldest_success=Min("last_success_at", filter=polled),
            n_tried=Count("pk", filter=polled & Q(last_sync_at__isnull=False)),
            n_syncing=Count("pk", filter=polled & Q(last_sync_ok=True)),
        )
    )
    return [dict(row) for row in rows]


def _failing_accounts(
    polled_rows: list[dict[str, Any]], names: dict[int, str]
) -> list[FailingAccount]:
    """Polled accounts with polled tasks that have been tried, none of which syncs: a wrong key
    or a blocked account, more than one task's trouble. Their latest error is read for those
    few alone."""
    failing = sorted(
        (row for row in polled_rows if row["n_tried"] > 0 and row["n_syncing"] == 0),
        key=lambda row: names[row["account_id"]],
    )
    found = []
    for row in failing:
        error = (
            Task.objects.filter(account_id=row["account_id"], is_polled=True, last_sync_ok=False)
            .order_by("-last_sync_at")
            .values_list("last_error", flat=True)
            .first()
        )
        found.append(
            FailingAccount(names[row["account_id"]], row["n_polled"], (error or "")[:ERROR_SHOWN])
        )
    return found


# --- the admins' sync-health page and the failing-account flag ----------------------------------


def alert_threshold() -> int:
    """Failed syncs in a row that flag an account to admins (and email them once)."""
    return settings.BLUDASH_ACCOUNT_FAILURE_ALERT


@dataclass(frozen=True)
class AccountHealth:
    pk: int
    name: str
    enabled: bool
    last_success_at: datetime | None
    last_failure_at: datetime | None
    consecutive_failures: int
    error: str  # the last error, Blu's message in it; kept after a success
    polled_tasks: int
    failing_tasks: int
    checked_at: datetime

    @property
    def behind(self) -> timedelta | None:
        return None if self.last_success_at is None else self.checked_at - self.last_success_at

    @property
    def late(self) -> bool:
        return is_late(self.behind)

    @property
    def flagged(self) -> bool:
        return self.enabled and self.consecutive_failures >= alert_threshold()

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0


def account_health(now: datetime | None = None) -> list[AccountHealth]:
    """Every account with its sync health, enabled ones first, most failures in a row first:
    one query."""
    polled = Q(tasks__is_polled=True)
    accounts = BluAccount.objects.annotate(
        n_polled=Count("tasks", filter=polled),
        n_failing=Count("tasks", filter=polled & Q(tasks__consecutive_failures__gt=0)),
    ).order_by("-is_polled", "-consecutive_failures", "name")
    checked_at = now or timezone.now()
    return [
        AccountHealth(
            pk=a.pk,
            name=a.name,
            enabled=a.is_polled,
            last_success_at=a.last_success_at,
            last_failure_at=a.last_failure_at,
            consecutive_failures=a.consecutive_failures,
            error=a.last_error[:ERROR_SHOWN],
            polled_tasks=a.n_polled,
            failing_tasks=a.n_failing,
            checked_at=checked_at,
        )
        for a in accounts
    ]


def task_health_rows() -> QuerySet[Task]:
    """Polled tasks of enabled accounts, failing longest first, then the stalest (never synced
    first): what the sync-health page pages through."""
    return (
        Task.objects.filter(POLLED)
        .select_related("account")
        .order_by(
            F("consecutive_failures").desc(),
            F("last_success_at").asc(nulls_first=True),
            "pk",
        )
    )


def stuck_tasks(now: datetime | None = None) -> QuerySet[Task]:
    """Polled tasks with a call in progress for longer than BLUDASH_STUCK_CALL_HOURS, the
    longest-stuck first. Retired tasks are left out: Blu no longer answers for them."""
    cutoff = (now or timezone.now()) - stuck_limit()
    return (
        Task.objects.filter(POLLED, oldest_open_call_at__lt=cutoff)
        .select_related("account")
        .order_by("oldest_open_call_at", "pk")
    )


def unknown_task_tries() -> int:
    """Answers in a row of "Blu does not know this task" after which it is no longer polled."""
    return settings.BLUDASH_UNKNOWN_TASK_TRIES


def stopped_unknown_tasks() -> QuerySet[Task]:
    """Tasks of enabled accounts no longer polled because Blu said, try after try, that it knows
    no such task (calls/ingest/unknown_tasks.py), the latest given up first."""
    return (
        Task.objects.filter(is_polled=False, account__is_polled=True, blu_unknown_tries__gt=0)
        .select_related("account")
        .order_by(F("last_sync_at").desc(nulls_last=True), "-pk")
    )


def flagged_accounts() -> list[BluAccount]:
    """Enabled accounts whose syncs have failed BLUDASH_ACCOUNT_FAILURE_ALERT times or more in a
    row: the flag on every page for admins. One small query on the accounts table. A disabled
    account is left out: an admin turned it off, and it is not polled."""
    return list(
        BluAccount.objects.filter(is_polled=True, consecutive_failures__gte=alert_threshold())
        .only("pk", "name", "consecutive_failures")
        .order_by("name")
    )
