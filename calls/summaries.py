"""The counts pages read instead of scanning calls: per-task totals on Task and per-day, per-code
rows in TaskDaySummary. Both are rebuilt from a task's calls after every sync of that task.

Flag-derived counts (connected, promised) depend on how managers classify codes, so they are
recomputed from the stored code counts whenever a conclusion changes, without touching calls.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import (
    Count,
    F,
    FloatField,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, NullIf, TruncDate
from django.utils import timezone

from .kpis import CodeTotal
from .models import CallRecord, Conclusion, Task, TaskDaySummary


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
