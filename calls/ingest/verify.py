"""Proving the figures: every task recounted from its stored calls (summaries' recount) and
compared with the totals and day rows its writes kept current. Drift means a bug or a restored
backup; `fix` repairs it with the recount. `blu verify` and the nightly job call this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from calls.ingest import summaries
from calls.ingest.clock import db_now
from calls.models import FigureCheck, Task, TaskDaySummary

SHOWN = 50  # drift lines kept on the check


def _day_rows(task: Task) -> dict[tuple[Any, str], tuple[int, int, int]]:
    return {
        (row.day, row.code): (row.calls, row.answered, row.talk_seconds)
        for row in TaskDaySummary.objects.filter(task=task)
    }


def task_drift(task: Task, *, fix: bool = False) -> list[str]:
    """What differs between the task's kept figures and a recount, one line each ([] when they
    agree); with `fix`, the recount is stored. Read under the task's lock, as writes are."""
    with transaction.atomic():
        locked = Task.objects.select_for_update().get(pk=task.pk)
        days, counted = summaries.count_task(locked)
        columns = summaries.SUMMARY_COLUMNS
        lease = locked.sync_lease_until
        if lease is not None and lease > db_now():
            # A sync under way recounts the median at its end, not with each page.
            columns = [column for column in columns if column != "median_talk_seconds"]
        lines = [
            f"task {task.blu_task_id} ({task.account.name}): {column} is {kept!r}, "
            f"the calls say {counted[column]!r}"
            for column in columns
            if (kept := getattr(locked, column)) != counted[column]
        ]
        kept_days = _day_rows(locked)
        counted_days = {
            (row.day, row.code): (row.calls, row.answered, row.talk_seconds) for row in days
        }
        for key in sorted(set(kept_days) | set(counted_days), key=str):
            if kept_days.get(key) != counted_days.get(key):
                day, code = key
                lines.append(
                    f"task {task.blu_task_id} ({task.account.name}): day {day or 'undated'}, "
                    f"code {code or 'in progress'} is {kept_days.get(key)} "
                    f"(calls, answered, talk), the calls say {counted_days.get(key)}"
                )
        if lines and fix:
            summaries.refresh_task_summary(locked)
    return lines


def verify_figures(
    *, fix: bool = False, report: Callable[[str], None] | None = None
) -> FigureCheck:
    """Check every task; record and return the check."""
    check = FigureCheck.objects.create(fixed=fix)
    drift: list[str] = []
    for task in Task.objects.select_related("account").order_by("pk").iterator(chunk_size=200):
        lines = task_drift(task, fix=fix)
        check.tasks_checked += 1
        if lines:
            check.tasks_drifted += 1
            drift += lines
            for line in lines:
                if report:
                    report(line)
    check.drift = drift[:SHOWN]
    check.finished_at = timezone.now()
    check.save()
    return check
