"""The counts pages read instead of scanning calls: per-task totals on Task, per-day, per-code
rows in TaskDaySummary, and their sums per account in AccountDaySummary (what the overview reads);
per account, the calls of each hour of each day and code in AccountHourSummary (what "When calls
work" reads).

Every write of calls (a sync's page, a callback) keeps them current in its own transaction by
applying the change (apply_changes: the old version's contribution out, the new one's in), so a
call is counted the moment it is stored, polled task or not. refresh_task_summary recounts a task
from its calls: `blu summaries` after an upgrade, and the proof that the applied figures hold.

Flag-derived counts (connected, right party, promised) depend on how managers classify codes, so
they are recomputed from the stored code counts whenever a conclusion changes, without touching
calls. What the pages read from them is in calls/dashboard/summary_queries.py.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
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
from django.db.models.functions import ExtractHour, TruncDate
from django.utils import timezone

from calls.conclusions.categories import NO_CODE, classified
from calls.models import (
    TALKED,
    AccountDaySummary,
    AccountHourSummary,
    BluAccount,
    CallRecord,
    Conclusion,
    Task,
    TaskDaySummary,
)

logger = logging.getLogger(__name__)


# The Task columns this module keeps.
SUMMARY_COLUMNS = [
    "calls_total",
    "calls_final",
    "calls_answered",
    "talk_seconds",
    "code_counts",
    "first_call_at",
    "last_call_at",
    "oldest_open_call_at",
    "median_talk_seconds",
    "calls_connected",
    "calls_right_party",
    "calls_promised",
]


def flagged_calls(
    code_counts: dict[str, int], conclusions: dict[str, Conclusion], flag: str
) -> int:
    """Calls whose code carries `flag`. Unknown and unclassified codes carry no flag."""
    return sum(
        n
        for code, n in code_counts.items()
        if (c := classified(code, conclusions)) is not None and getattr(c, flag)
    )


def take_account_turn(account_pk: int) -> None:
    """The account's write turn, which every write of its calls takes
    (calls.models.lock_account_writes), for writing its day rows here. As FOR NO KEY UPDATE: it
    takes turns with the writers' FOR UPDATE all the same, but lets a transaction that holds one
    of the account's tasks store a call of it (an insert's key-share lock on the account), which
    would otherwise wait for this turn while this waits for that task: a deadlock."""
    list(BluAccount.objects.select_for_update(no_key=True).filter(pk=account_pk).values("pk"))


def refresh_task_summary(task: Task, *, hours: bool = True) -> None:
    """Recount a task's calls with one grouped query over its index, and store the counts.

    The account's hour rows have no per-task rows to move by a difference: those of the days the
    task's calls were or are on are recounted from the account's calls of those days (the
    account's write turn is held, so no write is half counted). A rebuild of every task passes
    hours=False and recounts each account's hours once at its end (rebuild_account_hours).

    Two rebuilds of one task at once (`blu summaries` while a sync finishes) would both delete the
    task's day rows and then insert theirs, the second hitting the (task, day, code) constraint; a
    reclassification meanwhile could leave flag counts from the old flags. So the task's row is
    locked first, and the calls and the conclusions are read under that lock: rebuilds of a task
    take turns, each from what was committed before it started, and apply_conclusion_flags (which
    locks the same rows) runs wholly before or after. The conclusions' flags are read under the
    lock too: flags read before it may be stale by the time they are used.
    """
    with transaction.atomic():
        # The account's write turn first, as every write takes it (page_writer): the account's
        # day rows below change under it alone, and the lock order stays account, then task.
        take_account_turn(task.account_id)
        list(Task.objects.select_for_update().filter(pk=task.pk).values_list("pk"))
        days, summary = count_task(task)
        stored = TaskDaySummary.objects.filter(task=task)
        # The account's rows move by the difference between the task's old rows and its new.
        moved: dict[tuple[date | None, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        for sign, rows in ((-1, list(stored)), (1, days)):
            for row in rows:
                change = moved[(row.day, row.code)]
                change[0] += sign * row.calls
                change[1] += sign * row.answered
                change[2] += sign * row.talk_seconds
        stored.delete()
        TaskDaySummary.objects.bulk_create(days)
        Task.objects.filter(pk=task.pk).update(**summary)
        _apply_to_account_days(task.account_id, moved)
        if hours:
            recount_account_hours(task.account_id, {day for day, _code in moved if day})
    for key, value in summary.items():
        setattr(task, key, value)


def count_task(task: Task) -> tuple[list[TaskDaySummary], dict[str, Any]]:
    """A task's day rows and its SUMMARY_COLUMNS, recounted from its calls (not stored)."""
    days, summary = _count_calls(task)
    summary.update(_flag_counts(summary["code_counts"], Conclusion.by_code()))
    return days, summary


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


def refresh_median_talk(task: Task) -> None:
    """Recount the task's median talk time: a sync does it once at its end, not once a page.
    Under the task's lock, so a callback's write committed meanwhile is counted, not undone."""
    with transaction.atomic():
        list(Task.objects.select_for_update().filter(pk=task.pk).values_list("pk"))
        Task.objects.filter(pk=task.pk).update(median_talk_seconds=_median_talk(task))


def _median_talk(task: Task) -> int | None:
    # Exactly the predicate of the call_talk_idx index, so that both queries read it alone.
    talked = CallRecord.objects.filter(TALKED, task=task)
    n = talked.count()
    if not n:
        return None
    return talked.order_by("duration").values_list("duration", flat=True)[n // 2]


# --- applying a write: the old versions' contribution out, the new ones' in -------------------


def call_summary_code(code: str, end_time: Any) -> str:
    """summary_code() for one call's values."""
    if code:
        return code
    return NO_CODE if end_time is not None else ""


def call_day(start_time: datetime | None) -> date | None:
    """The company day a call is counted on (as TruncDate in _count_calls); None when undated."""
    if start_time is None:
        return None
    return timezone.localtime(start_time, timezone.get_default_timezone()).date()


def _talks_in_median(fields: Mapping[str, Any]) -> bool:
    ended = fields["end_time"] is not None or bool(fields["code"])
    return ended and fields["answer_time"] is not None and fields["duration"] is not None


Days = dict[tuple[date | None, str], list[int]]  # (day, code) -> [calls, answered, talk seconds]


def apply_changes(
    task_pk: int,
    removed: Iterable[Mapping[str, Any]],
    added: Iterable[Mapping[str, Any]],
    *,
    median: bool = True,
) -> None:
    """Keep one task's figures current after a write of its calls (apply_changes_many)."""
    apply_changes_many({task_pk: (removed, added)}, median={task_pk} if median else set())


def apply_changes_many(
    changes: Mapping[int, tuple[Iterable[Mapping[str, Any]], Iterable[Mapping[str, Any]]]],
    *,
    median: Collection[int],
) -> None:
    """Keep tasks' figures current after a write of their calls: for each task, (removed,
    added): each removed version's contribution (a stored call as it was) comes out, each added
    version's comes in. Totals, code counts, flag counts and day rows are adjusted, never
    recounted; the first and last start and the oldest open call are read from the calls'
    indexes; the median talk time is recounted only for the tasks in `median` where a changed
    call counts in it. The tasks, their conclusions and their day rows are read once for all
    (a group commit of callbacks touches several tasks in one write).

    The caller holds the account's write turn and the tasks' row locks in the transaction that
    wrote the calls (so figures and calls commit together, writers of a task take turns, and the
    account's day rows are changed by one writer at a time).
    """
    if not changes:
        return
    moved = {task_pk: (list(removed), list(added)) for task_pk, (removed, added) in changes.items()}
    counted = {task_pk: _contributions(*versions) for task_pk, versions in moved.items()}
    tasks = {
        task.pk: task
        for task in Task.objects.only(
            "account_id", "code_counts", *_TOTALS, *FLAG_COLUMNS, *_BOUNDS
        ).filter(pk__in=sorted(moved))
    }
    changed_codes = sorted(
        {code for _t, codes, _d, _h in counted.values() for code, n in codes.items() if n}
    )
    # Read under the tasks' locks: a reclassification (apply_conclusion_flags, which locks every
    # task) finished before it or waits for this write, then recounts from the code counts.
    conclusions = (
        {c.code: c for c in Conclusion.objects.filter(code__in=changed_codes)}
        if changed_codes
        else {}
    )
    days: dict[int, Days] = {}
    hours: dict[int, Hours] = defaultdict(Counter)
    for task_pk in sorted(moved):
        task = tasks[task_pk]
        removed, added = moved[task_pk]
        totals, codes, days[task_pk], task_hours = counted[task_pk]
        hours[task.account_id].update(task_hours)
        values: dict[str, Any] = {
            column: _not_below_zero(task, column, getattr(task, column) + change)
            for column, change in totals.items()
        }
        code_counts = dict(task.code_counts)
        for code, change in codes.items():
            n = _not_below_zero(task, f"code {code}", code_counts.get(code, 0) + change)
            if n:
                code_counts[code] = n
            else:
                code_counts.pop(code, None)
        values["code_counts"] = code_counts
        values.update(_flag_changes(task, codes, conclusions))
        values.update(_bounds(task, removed, added))
        if task_pk in median and any(map(_talks_in_median, [*removed, *added])):
            values["median_talk_seconds"] = _median_talk(task)
        Task.objects.filter(pk=task_pk).update(**values)
    _apply_to_days(tasks, days)
    for account_pk, account_hours in sorted(hours.items()):
        _apply_to_account_hours(account_pk, account_hours)


_TOTALS = ("calls_total", "calls_final", "calls_answered", "talk_seconds")


Hours = Counter[tuple[date, int, str]]  # (day, hour, code) -> calls


def _contributions(
    removed: list[Mapping[str, Any]], added: list[Mapping[str, Any]]
) -> tuple[Counter[str], Counter[str], Days, Hours]:
    """What the change moves: the task's totals, its code counts, its day rows and its
    account's hour rows."""
    totals: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    days: Days = defaultdict(lambda: [0, 0, 0])
    hours: Hours = Counter()
    company = timezone.get_default_timezone()
    for sign, versions in ((-1, removed), (1, added)):
        for fields in versions:
            code = call_summary_code(fields["code"], fields["end_time"])
            answered = int(fields["answer_time"] is not None)
            talk = fields["duration"] or 0
            totals["calls_total"] += sign
            totals["calls_final"] += sign * bool(code)
            totals["calls_answered"] += sign * answered
            totals["talk_seconds"] += sign * talk
            if code:
                codes[code] += sign
            start = fields["start_time"]
            # call_day, without its look-up of the zone for every call
            local = None if start is None else start.astimezone(company)
            day = days[(None if local is None else local.date(), code)]
            day[0] += sign
            day[1] += sign * answered
            day[2] += sign * talk
            if local is not None:
                hours[(local.date(), local.hour, code)] += sign
    return totals, codes, days, hours


def _not_below_zero(task: Task, what: str, n: int) -> int:
    if n < 0:
        # Only figures that were wrong before this write get here (a database restored from an
        # older backup, a bug): the write goes on, and `blu summaries` recounts the task.
        logger.warning("Task %s: %s would fall below zero; run `blu summaries`", task.pk, what)
        return 0
    return n


def _flag_changes(
    task: Task, codes: Counter[str], conclusions: dict[str, Conclusion]
) -> dict[str, int]:
    """The flag counts moved by the changed codes alone (their conclusions, read by the caller
    under the task's lock)."""
    changed = {code: n for code, n in codes.items() if n}
    if not changed:
        return {}
    return {
        column: _not_below_zero(
            task, column, getattr(task, column) + flagged_calls(changed, conclusions, flag)
        )
        for column, flag in FLAG_COLUMNS.items()
    }


_BOUNDS = ["first_call_at", "last_call_at", "oldest_open_call_at"]


def _is_open(fields: Mapping[str, Any]) -> bool:
    return fields["end_time"] is None and not fields["code"]


def _bounds(
    task: Task, removed: list[Mapping[str, Any]], added: list[Mapping[str, Any]]
) -> dict[str, Any]:
    """The first and last start and the oldest call in progress, moved by the change. Only when
    a removed version held a bound is it looked up again, from an index, never a scan."""
    calls = CallRecord.objects.filter(task_id=task.pk)
    bounds: dict[str, Any] = {}
    starts = [fields["start_time"] for fields in added if fields["start_time"] is not None]
    # A start that is gone (not merely a call ending at the same start) may have been a bound.
    gone = {fields["start_time"] for fields in removed} - {None} - set(starts)
    if gone & {task.first_call_at, task.last_call_at}:
        bounds.update(
            calls.aggregate(first_call_at=Min("start_time"), last_call_at=Max("start_time"))
        )
    elif starts:
        bounds["first_call_at"] = min([*starts, *[task.first_call_at] * bool(task.first_call_at)])
        bounds["last_call_at"] = max([*starts, *[task.last_call_at] * bool(task.last_call_at)])
    oldest = task.oldest_open_call_at
    now_open = [f["start_time"] for f in added if _is_open(f) and f["start_time"] is not None]
    closed = {f["start_time"] for f in removed if _is_open(f)} - set(now_open)
    if oldest is not None and oldest in closed:
        # The partial index on open calls answers this without reading the finished ones.
        still_open = calls.filter(end_time__isnull=True, code="")
        bounds.update(still_open.aggregate(oldest_open_call_at=Min("start_time")))
    elif now_open:
        bounds["oldest_open_call_at"] = min([*now_open, *[oldest] * (oldest is not None)])
    return bounds


@functools.cache
def _day_statements() -> tuple[str, str]:
    """The day rows' INSERT and UPDATE, each run for many rows at once by executemany."""
    quote = connection.ops.quote_name
    table = quote(TaskDaySummary._meta.db_table)
    names = ["task_id", "account_id", "day", "code", "calls", "answered", "talk_seconds"]
    columns = ", ".join(map(quote, names))
    counts = ", ".join(f"{quote(name)} = %s" for name in names[4:])
    insert = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(names))})"  # noqa: S608
    update = f"UPDATE {table} SET {counts} WHERE {quote('id')} = %s"  # noqa: S608
    return insert, update


def _apply_to_days(tasks: Mapping[int, Task], days: Mapping[int, Days]) -> None:
    """Move the tasks' day rows by the changes: one read of the days touched, then the changed
    rows updated and the new ones inserted each by one statement run for every row (a page
    touches a few dozen rows; built by the ORM row by row they cost more than the page's calls);
    the account's sums by one upsert of the changes of every task summed."""
    changes = {
        task_pk: {key: change for key, change in task_days.items() if any(change)}
        for task_pk, task_days in days.items()
    }
    _apply_to_task_days(tasks, changes)
    by_account: dict[int, Days] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    for task_pk, task_changes in changes.items():
        summed = by_account[tasks[task_pk].account_id]
        for key, change in task_changes.items():
            summed[key] = [a + b for a, b in zip(summed[key], change, strict=True)]
    for account_pk, summed in sorted(by_account.items()):
        _apply_to_account_days(account_pk, summed)


def _apply_to_account_days(account_pk: int, days: Days) -> None:
    """The same changes to the sums of the task's account (dated rows only: the overview counts
    undated calls from TaskDaySummary). The caller holds the account's write turn.

    Not read and bulk_updated as the task's rows are: these rows change with every write of
    any of the account's tasks, and bulk_update's CASE per row cost a rebuild (`blu summaries`,
    the bench's seed) some 100 ms of Python on this machine. Instead the database adds each
    change to the stored row: an upsert for the changes that only add (a column's CHECK would
    refuse a negative value even in a row that ends as an update), one UPDATE each, sent
    together, for those that take away; rows left with no calls are deleted."""
    adding, taking = [], []
    for (day, code), change in days.items():
        if day is None or not any(change):
            continue
        key = [account_pk, connection.ops.adapt_datefield_value(day), code]
        if min(change) >= 0:
            adding.append([*key, *change])
        else:
            taking.append([*change, *key])
    # Only the table's and columns' own names and placeholders are formatted into the SQL: every
    # value goes as a parameter (hence the noqa: S608s).
    table = connection.ops.quote_name(AccountDaySummary._meta.db_table)
    with connection.cursor() as cursor:
        if adding:
            cursor.execute(
                f"INSERT INTO {table} (account_id, day, code, calls, answered, talk_seconds) "  # noqa: S608
                f"VALUES {', '.join(['(%s, %s, %s, %s, %s, %s)'] * len(adding))} "
                "ON CONFLICT (account_id, day, code) DO UPDATE SET "
                + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in SUMS),
                [value for row in adding for value in row],
            )
        if taking:
            # Below zero only where the figures were wrong already: 0, as _not_below_zero does
            # for the task's rows, and the nightly check reports the account's drift.
            clamped = ", ".join(
                f"{c} = CASE WHEN {c} + %s < 0 THEN 0 ELSE {c} + %s END" for c in SUMS
            )
            cursor.executemany(
                f"UPDATE {table} SET {clamped} WHERE account_id = %s AND day = %s AND code = %s",  # noqa: S608
                [[n for n in row[:3] for _ in (0, 1)] + row[3:] for row in taking],
            )
    if taking:
        emptied = {day for (day, _), change in days.items() if day is not None and change[0] < 0}
        AccountDaySummary.objects.filter(account_id=account_pk, day__in=emptied, calls=0).delete()


def _apply_to_account_hours(account_pk: int, hours: Hours) -> None:
    """The change's calls per (day, hour, code) added to the account's hour rows, as
    _apply_to_account_days adds to its day rows (one upsert for what only adds, one UPDATE each,
    sent together, for what takes away; rows left with no calls deleted). The caller holds the
    account's write turn."""
    adding, taking = [], []
    for (day, hour, code), change in hours.items():
        key = [account_pk, connection.ops.adapt_datefield_value(day), hour, code]
        if change > 0:
            adding.append([*key, change])
        elif change < 0:
            taking.append([change, change, *key])
    table = connection.ops.quote_name(AccountHourSummary._meta.db_table)
    with connection.cursor() as cursor:
        if adding:
            cursor.execute(
                f"INSERT INTO {table} (account_id, day, hour, code, calls) "  # noqa: S608
                f"VALUES {', '.join(['(%s, %s, %s, %s, %s)'] * len(adding))} "
                f"ON CONFLICT (account_id, day, hour, code) DO UPDATE SET "
                f"calls = {table}.calls + excluded.calls",
                [value for row in adding for value in row],
            )
        if taking:
            # Below zero only where the figures were wrong already: 0, and the nightly check
            # reports the drift (calls/ingest/verify.py).
            cursor.executemany(
                f"UPDATE {table} SET calls = CASE WHEN calls + %s < 0 THEN 0 ELSE calls + %s END "  # noqa: S608
                "WHERE account_id = %s AND day = %s AND hour = %s AND code = %s",
                taking,
            )
    if taking:
        emptied = {day for (day, _hour, _code), change in hours.items() if change < 0}
        AccountHourSummary.objects.filter(account_id=account_pk, day__in=emptied, calls=0).delete()


def account_hour_counts(
    account_pk: int, days: Collection[date] | None = None
) -> dict[tuple[date, int, str], int]:
    """What the account's AccountHourSummary rows must hold, counted from its calls: calls per
    (day, hour, code) in the company's zone, dated calls only; of the given days alone, or of
    every day. One grouped query over the account's (account, start time) index."""
    company = timezone.get_default_timezone()
    calls = CallRecord.objects.filter(account_id=account_pk, start_time__isnull=False)
    if days is not None:
        if not days:
            return {}
        within = Q(pk__in=[])
        for day in days:
            start = datetime.combine(day, datetime.min.time(), tzinfo=company)
            end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=company)
            within |= Q(start_time__gte=start, start_time__lt=end)
        calls = calls.filter(within)
    grouped = (
        calls.annotate(
            day=TruncDate("start_time", tzinfo=company),
            hour=ExtractHour("start_time", tzinfo=company),
            summary_code=summary_code(),
        )
        .order_by()
        .values("day", "hour", "summary_code")
        .annotate(n=Count("id"))
    )
    return {(row["day"], row["hour"], row["summary_code"]): row["n"] for row in grouped}


def recount_account_hours(account_pk: int, days: Collection[date] | None = None) -> None:
    """The account's hour rows of the given days (or of every day) stored afresh from its
    calls. The caller holds the account's write turn, or this takes it."""
    with transaction.atomic():
        take_account_turn(account_pk)
        stored = AccountHourSummary.objects.filter(account_id=account_pk)
        if days is not None:
            if not days:
                return
            stored = stored.filter(day__in=sorted(days))
        stored.delete()
        AccountHourSummary.objects.bulk_create(
            [
                AccountHourSummary(
                    account_id=account_pk, day=day, hour=hour, code=code, calls=calls
                )
                for (day, hour, code), calls in sorted(
                    account_hour_counts(account_pk, days).items()
                )
            ],
            batch_size=1000,
        )


def rebuild_account_hours(account_pk: int) -> None:
    """Every hour row of the account recounted from its calls: `blu summaries` after rebuilding
    every task, and `blu verify --fix` when they drifted."""
    recount_account_hours(account_pk, None)


def _apply_to_task_days(tasks: Mapping[int, Task], changes: Mapping[int, Days]) -> None:
    """Add each task's (day, code) changes (calls, answered, talk seconds) to the rows that hold
    them: a row is made when missing and deleted when it counts no call any more."""
    wanted = Q(pk__in=[])
    for task_pk, task_changes in changes.items():
        dated = sorted({day for day, _code in task_changes if day is not None})
        if dated:
            wanted |= Q(task_id=task_pk, day__in=dated)
        if any(day is None for day, _code in task_changes):
            wanted |= Q(task_id=task_pk, day__isnull=True)
    if not any(changes.values()):
        return
    rows = {
        (task_pk, day, code): (pk, calls, answered, talk)
        for pk, task_pk, day, code, calls, answered, talk in TaskDaySummary.objects.filter(
            wanted
        ).values_list("pk", "task_id", "day", "code", "calls", "answered", "talk_seconds")
    }
    new: list[tuple[Any, ...]] = []
    changed: list[tuple[int, int, int, int]] = []
    emptied: list[int] = []
    for task_pk, task_changes in sorted(changes.items()):
        task = tasks[task_pk]
        for key, (calls, answered, talk) in task_changes.items():
            pk, stored_calls, stored_answered, stored_talk = rows.get(
                (task_pk, *key), (None, 0, 0, 0)
            )
            what = f"day {key[0] or 'undated'}, code {key[1] or 'in progress'}"
            calls = _not_below_zero(task, what, stored_calls + calls)
            answered = _not_below_zero(task, what, stored_answered + answered)
            talk = _not_below_zero(task, what, stored_talk + talk)
            if pk is None:
                if calls:
                    new.append((task.pk, task.account_id, key[0], key[1], calls, answered, talk))
            elif calls:
                changed.append((calls, answered, talk, pk))
            else:
                emptied.append(pk)
    adapt_day = connection.ops.adapt_datefield_value
    insert, update = _day_statements()
    with connection.cursor() as cursor:
        if new:
            cursor.executemany(insert, [(*row[:2], adapt_day(row[2]), *row[3:]) for row in new])
        if changed:
            cursor.executemany(update, changed)
    if emptied:
        TaskDaySummary.objects.filter(pk__in=emptied).delete()


def rebuild_account_days(account_pk: int) -> None:
    """The account's day rows summed afresh from its tasks' day rows: `blu verify --fix` when
    they drifted. Under the account's write turn."""
    with transaction.atomic():
        take_account_turn(account_pk)
        AccountDaySummary.objects.filter(account_id=account_pk).delete()
        rows = [
            AccountDaySummary(
                account_id=account_pk, day=day, code=code, **dict(zip(SUMS, sums, strict=True))
            )
            for (day, code), sums in account_day_sums(account_pk).items()
        ]
        AccountDaySummary.objects.bulk_create(rows, batch_size=1000)


SUMS = ("calls", "answered", "talk_seconds")


def account_day_sums(account_pk: int) -> dict[tuple[date, str], tuple[int, int, int]]:
    """What the account's AccountDaySummary rows must hold: its tasks' dated day rows summed per
    (day, code), (calls, answered, talk seconds) each; days and codes with no call left out."""
    grouped = (
        TaskDaySummary.objects.filter(account_id=account_pk, day__isnull=False)
        .order_by()
        .values("day", "code")
        .annotate(n=Sum("calls"), answered_n=Sum("answered"), talk=Sum("talk_seconds"))
    )
    sums: dict[tuple[date, str], tuple[int, int, int]] = {}
    for row in grouped:
        day = row["day"]
        if day is not None and row["n"]:  # dated rows only (the filter above says so to SQL)
            sums[(day, row["code"])] = (row["n"], row["answered_n"], row["talk"])
    return sums


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
        conclusions = Conclusion.by_code()
        changed = []
        for task in tasks:
            counts = _flag_counts(task.code_counts, conclusions)
            if counts != {column: getattr(task, column) for column in FLAG_COLUMNS}:
                for column, n in counts.items():
                    setattr(task, column, n)
                changed.append(task)
        Task.objects.bulk_update(changed, list(FLAG_COLUMNS), batch_size=500)
    return len(changed)
