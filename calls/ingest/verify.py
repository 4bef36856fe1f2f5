"""Proving the figures: every task recounted from its stored calls (summaries' recount) and
compared with the totals and day rows its writes kept current, then every account's day rows
compared with the sums of its tasks' day rows, its hour rows with a recount of its calls, and
its promises' counts by window-end day and outcome (what the overview's kept rates read) with a
count of its promises. Drift means a bug or a restored backup; `fix` repairs it with the
recount. `blu verify` and the nightly job call this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from calls.ingest import summaries
from calls.ingest.clock import db_now
from calls.models import (
    AccountDaySummary,
    AccountHourSummary,
    BluAccount,
    FigureCheck,
    Task,
    TaskDaySummary,
)
from calls.promises import outcome_days

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
        if fix:
            # The recount changes the account's day rows too: take the account's write turn
            # before the task's lock, in the order every write takes them.
            summaries.take_account_turn(task.account_id)
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


def account_drift(account: BluAccount, *, fix: bool = False) -> list[str]:
    """What differs between the account's day rows (what the overview reads) and the sums of its
    tasks' day rows, one line each; with `fix`, they are summed afresh. Under the account's
    write turn, so no write is half counted."""
    with transaction.atomic():
        summaries.take_account_turn(account.pk)
        kept = {
            (row.day, row.code): (row.calls, row.answered, row.talk_seconds)
            for row in AccountDaySummary.objects.filter(account=account)
        }
        summed = summaries.account_day_sums(account.pk)
        lines = [
            f"account {account.name}: day {day}, code {code or 'in progress'} is "
            f"{kept.get((day, code))} (calls, answered, talk), its tasks say "
            f"{summed.get((day, code))}"
            for day, code in sorted(set(kept) | set(summed), key=str)
            if kept.get((day, code)) != summed.get((day, code))
        ]
        if lines and fix:
            summaries.rebuild_account_days(account.pk)
    return lines + _hour_drift(account, fix=fix)


def _hour_drift(account: BluAccount, *, fix: bool) -> list[str]:
    """The account's hour rows ("When calls work") against a recount of its calls per day,
    hour and code; with `fix`, a drifted day's rows are counted afresh. A day at a time, each
    under the account's write turn: a recount of every call at once would hold the account's
    callbacks back for as long as it reads them all. The days are those of its day rows (checked
    against its tasks, themselves against their calls, just before) and of its hour rows."""
    days = set(AccountDaySummary.objects.filter(account=account).values_list("day", flat=True))
    days |= set(AccountHourSummary.objects.filter(account=account).values_list("day", flat=True))
    lines: list[str] = []
    for day in sorted(days):
        with transaction.atomic():
            summaries.take_account_turn(account.pk)
            kept = {
                (row.day, row.hour, row.code): row.calls
                for row in AccountHourSummary.objects.filter(account=account, day=day)
            }
            counted = summaries.account_hour_counts(account.pk, {day})
            drifted = [
                f"account {account.name}: day {day} {hour:02}:00, code {code or 'in progress'} "
                f"is {kept.get((day, hour, code))} calls, the calls say "
                f"{counted.get((day, hour, code))}"
                for day, hour, code in sorted(set(kept) | set(counted))
                if kept.get((day, hour, code)) != counted.get((day, hour, code))
            ]
            if drifted and fix:
                summaries.recount_account_hours(account.pk, {day})
        lines += drifted
    return lines


def promise_drift(account: BluAccount, *, fix: bool = False) -> list[str]:
    """What differs between the account's promises counted by window-end day and outcome and a
    count of its promises, one line each; with `fix`, counted afresh. Under the write turn."""
    with transaction.atomic():
        summaries.take_account_turn(account.pk)
        kept, counted = outcome_days.stored(account.pk), outcome_days.counted(account.pk)
        lines = [
            f"account {account.name}: promises whose window ends {key[1]}, {key[2]}: "
            f"{kept[key]} kept by the writes, the promises say {counted[key]}"
            for key in sorted(set(kept) | set(counted), key=str)
            if kept[key] != counted[key]
        ]
        if lines and fix:
            outcome_days.recount(account.pk)
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
    # After the tasks: a fixed task has already moved its account's rows by what it fixed.
    for account in BluAccount.objects.order_by("pk"):
        lines = account_drift(account, fix=fix) + promise_drift(account, fix=fix)
        if lines:
            check.accounts_drifted += 1
        drift += lines
        for line in lines:
            if report:
                report(line)
    check.drift = drift[:SHOWN]
    check.finished_at = timezone.now()
    check.save()
    return check
