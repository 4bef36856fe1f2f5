"""What the pages read instead of scanning calls: sums over the per-day, per-code summary rows
(a task's, or every account's for the overview), and the tasks' stored counts turned into the
rates the tasks table sorts by. One grouped query each, a few hundred rows whatever the number
of calls or tasks.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import F, FloatField, QuerySet, Sum, Value
from django.db.models.functions import Cast, NullIf
from django.utils import timezone

from calls.dashboard.kpis import CodeTotal
from calls.models import AccountDaySummary, Task, TaskDaySummary


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
    accounts' day rows (their tasks' day rows summed by every write), a few dozen rows a day per
    account whatever the number of calls or tasks."""
    grouped = (
        AccountDaySummary.objects.filter(day__gte=first, day__lte=last)
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


def undated_calls(rows: QuerySet[TaskDaySummary]) -> int:
    """Calls among the rows that Blu gave no readable start time: counted in every total, on no
    day (pages that count by day say how many)."""
    return rows.filter(day__isnull=True).aggregate(n=Sum("calls"))["n"] or 0


def _ratio(numerator: str, denominator: str) -> Any:
    # NULL rather than a division by zero: a task without calls has no rate and sorts last.
    return Cast(F(numerator), FloatField()) / NullIf(F(denominator), Value(0))


def with_rates(tasks: QuerySet[Task]) -> QuerySet[Task]:
    """Tasks annotated with the ratios the tasks table shows and sorts by: finished_ratio,
    connect_ratio (connected / placed), promise_ratio (promises / right-party contacts, as on the
    overview) and average_talk (seconds per answered call), from the counts the summaries keep
    on Task (calls/ingest/summaries.py)."""
    return tasks.annotate(
        finished_ratio=_ratio("calls_final", "calls_total"),
        connect_ratio=_ratio("calls_connected", "calls_total"),
        promise_ratio=_ratio("calls_promised", "calls_right_party"),
        average_talk=_ratio("talk_seconds", "calls_answered"),
    )
