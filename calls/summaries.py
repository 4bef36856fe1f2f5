"""The counts pages read instead of scanning calls: per-task totals on Task and per-day, per-code
rows in TaskDaySummary. Both are rebuilt from a task's calls after every sync of that task.

Flag-derived counts (connected, promised) depend on how managers classify codes, so they are
recomputed from the stored code counts whenever a conclusion changes, without touching calls.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

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
    talked = CallRecord.objects.filter(task=task, answer_time__isnull=False, duration__isnull=False)
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
