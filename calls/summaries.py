"""The counts pages read instead of scanning calls: per-task totals on Task and per-day, per-code
rows in TaskDaySummary. Both are rebuilt from a task's calls after every sync of that task.

Flag-derived counts (connected, promised) depend on how managers classify codes, so they are
recomputed from the stored code counts whenever a conclusion changes, without touching calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Count,
    F,
    FloatField,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, NullIf, TruncDate
from django.utils import timezone

from .kpis import CodeTotal
from .models import BluAccount, CallRecord, Conclusion, Task, TaskDaySummary


def conclusions_by_code() -> dict[str, Conclusion]:
    return {c.code: c for c in Conclusion.objects.all()}


def flagged_calls(
    code_counts: dict[str, int], conclusions: dict[str, Conclusion], flag: str
) -> int:
    """Calls whose code carries `flag`. Unknown and unclassified codes carry no flag."""
    return sum(
        n
        for code, n in code_counts.items()
        if (c := conclusions.get(code)) is not None and c.classified and getattr(c, flag)
    )


def refresh_task_summary(task: Task, conclusions: dict[str, Conclusion] | None = None) -> None:
    """Recount a task's calls with one grouped query over its index, and store the counts."""
    rows = (
        CallRecord.objects.filter(task=task)
        .annotate(day=TruncDate("start_time", tzinfo=timezone.get_default_timezone()))
        .values("day", "code")
        .annotate(
            n=Count("id"),
            final=Count("id", filter=Q(end_time__isnull=False) | ~Q(code="")),
            answered=Count("answer_time"),
            talk=Sum("duration"),
        )
    )
    days: list[TaskDaySummary] = []
    code_counts: dict[str, int] = {}
    summary: dict[str, Any] = {
        "calls_total": 0,
        "calls_final": 0,
        "calls_answered": 0,
        "talk_seconds": 0,
    }
    for row in rows:
        summary["calls_total"] += row["n"]
        summary["calls_final"] += row["final"]
        summary["calls_answered"] += row["answered"]
        summary["talk_seconds"] += row["talk"] or 0
        if row["code"]:
            code_counts[row["code"]] = code_counts.get(row["code"], 0) + row["n"]
        if row["day"] is not None:
            days.append(
                TaskDaySummary(
                    task_id=task.pk,
                    account_id=task.account_id,
                    day=row["day"],
                    code=row["code"],
                    calls=row["n"],
                    answered=row["answered"],
                    talk_seconds=row["talk"] or 0,
                )
            )
    span = CallRecord.objects.filter(task=task, start_time__isnull=False)
    first = span.order_by("start_time").values_list("start_time", flat=True).first()
    last = span.order_by("-start_time").values_list("start_time", flat=True).first()
    summary.update(
        code_counts=code_counts,
        first_call_at=first,
        last_call_at=last,
        median_talk_seconds=_median_talk(task),
    )
    summary.update(_flag_counts(code_counts, conclusions or conclusions_by_code()))
    with transaction.atomic():
        TaskDaySummary.objects.filter(task=task).delete()
        TaskDaySummary.objects.bulk_create(days)
        Task.objects.filter(pk=task.pk).update(**summary)
    for key, value in summary.items():
        setattr(task, key, value)


def _median_talk(task: Task) -> int | None:
    # Ended calls only: Blu reports a call still talking with duration 0.
    ended = Q(end_time__isnull=False) | ~Q(code="")
    talked = CallRecord.objects.filter(
        ended, task=task, answer_time__isnull=False, duration__isnull=False
    )
    n = talked.count()
    if not n:
        return None
    return talked.order_by("duration").values_list("duration", flat=True)[n // 2]


def _flag_counts(code_counts: dict[str, int], conclusions: dict[str, Conclusion]) -> dict:
    return {
        "calls_connected": flagged_calls(code_counts, conclusions, "connected"),
        "calls_promised": flagged_calls(code_counts, conclusions, "promise_to_pay"),
    }


def apply_conclusion_flags() -> int:
    """After a manager reclassified codes: recompute every task's flag-derived counts from its
    stored code counts (no call is read). Returns how many tasks changed."""
    conclusions = conclusions_by_code()
    changed = []
    for task in Task.objects.only("pk", "code_counts", "calls_connected", "calls_promised"):
        counts = _flag_counts(task.code_counts, conclusions)
        if counts != {
            "calls_connected": task.calls_connected,
            "calls_promised": task.calls_promised,
        }:
            task.calls_connected = counts["calls_connected"]
            task.calls_promised = counts["calls_promised"]
            changed.append(task)
    Task.objects.bulk_update(changed, ["calls_connected", "calls_promised"], batch_size=500)
    return len(changed)


# --- what the pages read -------------------------------------------------------------------------


def company_today() -> date:
    """Today in the company's time zone: the calendar TaskDaySummary.day is counted in."""
    return timezone.localdate(timezone=timezone.get_default_timezone())


def code_totals(rows: QuerySet[TaskDaySummary]) -> list[CodeTotal]:
    """The given summary rows summed per code (one grouped query)."""
    grouped = (
        rows.order_by()
        .values("code")
        .annotate(n=Sum("calls"), answered_n=Sum("answered"), talk=Sum("talk_seconds"))
    )
    return [
        CodeTotal(row["code"], row["n"] or 0, row["answered_n"] or 0, row["talk"] or 0)
        for row in grouped
    ]


def day_code_totals(first: date, last: date) -> list[tuple[date, CodeTotal]]:
    """Calls per (day, code) across all tasks from first to last: one grouped query over the
    summary's (day, code) index, a few hundred rows whatever the number of calls."""
    grouped = (
        TaskDaySummary.objects.filter(day__gte=first, day__lte=last)
        .order_by()
        .values("day", "code")
        .annotate(n=Sum("calls"), answered_n=Sum("answered"), talk=Sum("talk_seconds"))
    )
    return [
        (
            row["day"],
            CodeTotal(row["code"], row["n"] or 0, row["answered_n"] or 0, row["talk"] or 0),
        )
        for row in grouped
    ]


def _ratio(numerator: str, denominator: str) -> Any:
    # NULL rather than a division by zero: a task without calls has no rate and sorts last.
    return Cast(F(numerator), FloatField()) / NullIf(F(denominator), Value(0))


def _calls_with_codes(codes: list[str]) -> Any:
    """The sum of code_counts[code] over codes, read in the database so tables can sort by it."""
    if not codes:
        return Value(0)
    total: Any = Value(0)
    for code in sorted(codes):
        total += Coalesce(Cast(KeyTextTransform(code, "code_counts"), IntegerField()), Value(0))
    return total


def with_rates(tasks: QuerySet[Task], conclusions: dict[str, Conclusion]) -> QuerySet[Task]:
    """Tasks annotated with the ratios the tasks table shows and sorts by: finished_ratio,
    connect_ratio (connected / placed), calls_right_party, promise_ratio (promises / right-party
    contacts, as on the overview) and average_talk (seconds per answered call)."""
    right_party = [code for code, c in conclusions.items() if c.classified and c.right_party]
    return tasks.annotate(
        calls_right_party=_calls_with_codes(right_party),
        finished_ratio=_ratio("calls_final", "calls_total"),
        connect_ratio=_ratio("calls_connected", "calls_total"),
        average_talk=_ratio("talk_seconds", "calls_answered"),
    ).annotate(promise_ratio=_ratio("calls_promised", "calls_right_party"))


# --- sync health ---------------------------------------------------------------------------------


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
