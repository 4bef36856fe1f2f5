"""The counts pages read instead of scanning calls: per-task totals on Task and per-day, per-code
rows in TaskDaySummary. Both are rebuilt from a task's calls after every sync of that task.

Flag-derived counts (connected, right party, promised) depend on how managers classify codes, so
they are recomputed from the stored code counts whenever a conclusion changes, without touching
calls. What the pages read from them is in calls/dashboard/summary_queries.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    Max,
    Min,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from calls.conclusions.categories import NO_CODE, classified
from calls.models import CallRecord, Conclusion, Task, TaskDaySummary


def conclusions_by_code() -> dict[str, Conclusion]:
    return {c.code: c for c in Conclusion.objects.all()}


def flagged_calls(
    code_counts: dict[str, int], conclusions: dict[str, Conclusion], flag: str
) -> int:
    """Calls whose code carries `flag`. Unknown and unclassified codes carry no flag."""
    return sum(
        n
        for code, n in code_counts.items()
        if (c := classified(code, conclusions)) is not None and getattr(c, flag)
    )


def refresh_task_summary(task: Task) -> None:
    """Recount a task's calls with one grouped query over its index, and store the counts.

    Two rebuilds of one task at once (`blu summaries` while a sync finishes) would both delete the
    task's day rows and then insert theirs, the second hitting the (task, day, code) constraint; a
    reclassification meanwhile could leave flag counts from the old flags. So the task's row is
    locked first, and the calls and the conclusions are read under that lock: rebuilds of a task
    take turns, each from what was committed before it started, and apply_conclusion_flags (which
    locks the same rows) runs wholly before or after. The conclusions' flags are read under the
    lock too: flags read before it may be stale by the time they are used.
    """
    with transaction.atomic():
        list(Task.objects.select_for_update().filter(pk=task.pk).values_list("pk"))
        days, summary = _count_calls(task)
        summary.update(_flag_counts(summary["code_counts"], conclusions_by_code()))
        TaskDaySummary.objects.filter(task=task).delete()
        TaskDaySummary.objects.bulk_create(days)
        Task.objects.filter(pk=task.pk).update(**summary)
    for key, value in summary.items():
        setattr(task, key, value)


def summary_code() -> Case:
    """A call's code as the summaries count it: '' is kept for calls still in progress; one that
    ended without a code is finished, so it is counted under NO_CODE
    (calls/conclusions/categories.py)."""
    return Case(
        When(code="", end_time__isnull=False, then=Value(NO_CODE)),
        default=F("code"),
        output_field=CharField(),
    )


def _count_calls(task: Task) -> tuple[list[TaskDaySummary], dict[str, Any]]:
    """The task's day rows and its totals, from one grouped query over its calls.

    The same pass finds the first and last start and the start of the oldest call still in
    progress (summary code '', so no end time and no code): a task is stuck when that call is
    older than BLUDASH_STUCK_CALL_HOURS (calls/health/sync_health.py)."""
    code = summary_code()
    rows = (
        CallRecord.objects.filter(task=task)
        .annotate(
            day=TruncDate("start_time", tzinfo=timezone.get_default_timezone()),
            summary_code=code,
        )
        .values("day", "summary_code")
        .annotate(
            n=Count("id"),
            answered=Count("answer_time"),
            talk=Sum("duration"),
            first_start=Min("start_time"),
            last_start=Max("start_time"),
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
    starts: list[datetime] = []  # each group's first start
    last_starts: list[datetime] = []
    open_starts: list[datetime] = []  # groups of calls still in progress
    for row in rows:
        summary["calls_total"] += row["n"]
        summary["calls_answered"] += row["answered"]
        summary["talk_seconds"] += row["talk"] or 0
        if row["first_start"] is not None:
            starts.append(row["first_start"])
            last_starts.append(row["last_start"])
        if row["summary_code"]:
            summary["calls_final"] += row["n"]
            code_counts[row["summary_code"]] = code_counts.get(row["summary_code"], 0) + row["n"]
        elif row["first_start"] is not None:
            open_starts.append(row["first_start"])
        if row["day"] is not None:
            days.append(
                TaskDaySummary(
                    task_id=task.pk,
                    account_id=task.account_id,
                    day=row["day"],
                    code=row["summary_code"],
                    calls=row["n"],
                    answered=row["answered"],
                    talk_seconds=row["talk"] or 0,
                )
            )
    summary.update(
        code_counts=code_counts,
        first_call_at=min(starts, default=None),
        last_call_at=max(last_starts, default=None),
        oldest_open_call_at=min(open_starts, default=None),
        median_talk_seconds=_median_talk(task),
    )
    return days, summary


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


# Task column -> the conclusion flag it counts calls of.
FLAG_COLUMNS = {
    "calls_connected": "connected",
    "calls_right_party": "right_party",
    "calls_promised": "promise_to_pay",
}


def _flag_counts(code_counts: dict[str, int], conclusions: dict[str, Conclusion]) -> dict:
    return {
        column: flagged_calls(code_counts, conclusions, flag)
        for column, flag in FLAG_COLUMNS.items()
    }


def apply_conclusion_flags() -> int:
    """After a manager reclassified codes: recompute every task's flag-derived counts from its
    stored code counts (no call is read). Returns how many tasks changed.

    The tasks are locked (in pk order, so two of these cannot deadlock) before the conclusions
    are read: a summary rebuild holding one of them finishes first and this recounts its new
    code counts; one that starts later waits, then reads the new flags."""
    with transaction.atomic():
        tasks = list(
            Task.objects.select_for_update().order_by("pk").only("pk", "code_counts", *FLAG_COLUMNS)
        )
        conclusions = conclusions_by_code()
        changed = []
        for task in tasks:
            counts = _flag_counts(task.code_counts, conclusions)
            if counts != {column: getattr(task, column) for column in FLAG_COLUMNS}:
                for column, n in counts.items():
                    setattr(task, column, n)
                changed.append(task)
        Task.objects.bulk_update(changed, list(FLAG_COLUMNS), batch_size=500)
    return len(changed)
