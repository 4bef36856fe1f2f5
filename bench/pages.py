"""How fast the dashboard's pages answer over a million calls (or ten), beside the same pages
built the straightforward way.

    .venv/bin/python bench/pages.py [--calls 1000000] [--tasks 2000] [--runs 15] [--reuse]
        [--naive-budget 60] [--database bludash_bench_pages] [--smoke]

It seeds its own PostgreSQL database (--database, `bludash_bench_pages` by default, on
127.0.0.1:5432, user postgres, trust auth; dropped and created again unless --reuse finds the same
data already there; never the database DATABASE_URL names): one account,
--tasks tasks, --calls call records spread over the last 60 days with a realistic mix of Blu's
conclusion codes, written with COPY; then the summaries the sync keeps (`refresh_task_summary` for
every task) and VACUUM ANALYZE, as autovacuum would after a bulk load (it is off on the bench
machine).

Each page is then requested through django.test.Client, in this process, signed in as a manager:
one warm-up request (which also records the page's SQL), then --runs timed requests, of which the
median is printed. The time is the server's: URL resolution, middleware, the queries and rendering
the whole response; no network. Beside it, the same page built the straightforward way (Django's
default Paginator, which counts every matching row; aggregates computed from the calls on every
request instead of read from summaries), mounted under /naive/ by a URLconf made here, so both are
timed the same way. Pages over the 100 ms aim get their slowest queries EXPLAIN ANALYZEd. Page
5,000 of the calls is reached as a user reaches it, by the cursor of the row that ends page 4,999
(`?after=`, read from the database), beside the naive page 5,000 by number (`?page=5000`). A
naive page that takes seconds is timed at most --naive-budget seconds' worth (at least 3 times).

Every request is a secure one: with debug off the settings redirect plain HTTP to HTTPS, and a
plain request would time a 301. Any measured response that is not a 200 (or a calls page short of
a full page of rows), or a naive page that shows other values than ours, fails the run after the
report with a non-zero exit that names the page, its URL and what was wrong.

--smoke: 2,000 calls over 20 tasks in the last 5 days, page 2 for the deep pages, 2 runs, in
`bludash_bench_pages_smoke` unless --database names another, dropped afterwards; it also sends one
plain-HTTP request and fails unless the status check catches its redirect. CI runs it so the
script keeps working. Run by hand, never by tests; bench/README.md has the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import _seed_sql as seed_sql
from _databases import drop_database, ensure_database, refuse_a_database_not_ours
from _production import set_up_django, use_production_settings
from _seed_sql import RECORDING_BASE, BorrowerPlan

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER = "postgres://postgres@127.0.0.1:5432"
DATABASE = "bludash_bench_pages"
SMOKE_DATABASE = "bludash_bench_pages_smoke"
ZONE = "Asia/Colombo"  # the company's and the account's zone: Blu's times carry none
DAYS = 60  # history seeded: deeper than the 30-day overview and Blu's 45-day window
DEEP_PAGE = 5_000  # the deep calls page, reached by its cursor as a user's "next" links reach it
AIM_MS = 100.0  # issue 12: every page under 100 ms, median, server side
# A naive page that takes seconds (the overview and the tasks list at 10M calls) is timed fewer
# times: at most this many seconds of requests, and never fewer than NAIVE_MIN_RUNS.
NAIVE_BUDGET_S = 60.0
NAIVE_MIN_RUNS = 3
PER_PAGE = 50  # what the calls tables show
# --smoke: a seed that gives every measured page a full page of rows (all of it inside the last 7
# days, so even the PTP filter matches more than 50 calls), quick to make and to time.
SMOKE = {"calls": 2_000, "tasks": 20, "runs": 2, "days": 5, "deep_page": 2, "reuse": False}
# A seed older than this no longer has a realistic "last 7 days": seed again instead of reusing.
REUSE_MAX_AGE = timedelta(hours=12)
SEED = 20261127

# Share of calls per conclusion code, in percent. About 40% never became a conversation (line
# codes), 20% reached voicemail, 15% promised to pay; the rest are the other conversation
# outcomes. Weights, not exact shares: they are normalised.
CODE_MIX: dict[str, float] = {
    "D00": 12,
    "D01": 5,
    "D02": 6,
    "D03": 3,
    "D04": 3,
    "D05": 1,
    "D06": 3,
    "D07": 1,
    "D09": 1,
    "D10": 0.5,
    "D90": 1,
    "D91": 1.5,
    "D99": 0.5,
    "NAN": 0.5,
    "LMS": 12,
    "Voicemail": 4,
    "D08": 4,
    "PTP": 10,
    "HPTP": 5,
    "NOST": 6,
    "Busy": 4,
    "AP": 3,
    "NotOneself": 2,
    "unknown": 3,
    "undefined": 1,
    "CPL": 1,
    "Willing": 1,
    "Unwilling": 1,
    "Donotknow": 0.5,
    "Whichcompany": 0.5,
    "Complan": 0.3,
    "Undecided": 0.7,
    "Taskcancel": 0.5,
}
# Mostly Sri Lankan, as Blu's own example, with some accents to keep encodings honest.
# fmt: off
FIRST_NAMES = [
    "Anoji", "Nimal", "Kumari", "Dilshan", "Tharindu", "Sanduni", "Chaminda", "Ishara", "Ruwan",
    "Nadeesha", "Kasun", "Malsha", "Pradeep", "Hiruni", "Lahiru", "Dinithi", "Priya", "Arjun",
    "Lakshmi", "Rahul", "Kavitha", "Suresh", "Oliver", "Emily", "Zoë", "José",
]
LAST_NAMES = [
    "Mohoo", "Perera", "Fernando", "Silva", "Jayasinghe", "Wickramasinghe", "Bandara",
    "Dissanayake", "Rajapaksha", "Gunawardena", "Herath", "Ratnayake", "Sharma", "Reddy", "Iyer",
    "Nair", "Patel", "Menon", "Smith", "O'Brien", "Müller", "Côté",
]
# fmt: on
MOBILE_PREFIXES = ["070", "071", "072", "074", "075", "076", "077", "078"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="call records seeded")
    parser.add_argument("--tasks", type=int, default=2_000, help="tasks the calls belong to")
    parser.add_argument(
        "--borrowers", type=int, help="borrowers the calls name (default: a fifth of --calls)"
    )
    parser.add_argument(
        "--promises", type=int, help="promises made by promise calls (default: --calls / 10)"
    )
    parser.add_argument("--runs", type=int, default=15, help="timed requests per page and side")
    parser.add_argument(
        "--naive-budget",
        type=float,
        default=NAIVE_BUDGET_S,
        help="seconds of timed requests a naive page gets at most (at least 3 requests)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database if it already holds this seed (same --calls and --tasks, recent)",
    )
    parser.add_argument(
        "--seed-only", action="store_true", help="seed (or keep, with --reuse), then stop"
    )
    parser.add_argument(
        "--show-sql", action="store_true", help="print each page's slowest queries (warm-up)"
    )
    parser.add_argument(
        "--database",
        help=f"the bench's own database on {SERVER}, dropped and created again "
        f"(default {DATABASE}; {SMOKE_DATABASE} with --smoke)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"{SMOKE['calls']:,} calls, {SMOKE['runs']} runs: what CI runs (sizes ignored)",
    )
    args = parser.parse_args()
    args.days, args.deep_page = DAYS, DEEP_PAGE
    if args.smoke:
        vars(args).update(SMOKE)
    # The sizes of issue 13 at 10,000,000 calls: 2,000,000 borrowers, 1,000,000 promises.
    args.borrowers = args.calls // 5 if args.borrowers is None else args.borrowers
    args.promises = args.calls // 10 if args.promises is None else args.promises
    args.database = args.database or (SMOKE_DATABASE if args.smoke else DATABASE)
    args.database_url = f"{SERVER}/{args.database}"
    refuse_a_database_not_ours(args.database_url, "bench/pages.py --database")
    return args


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    args = parse_args()
    created = ensure_database(args.database_url, fresh=not args.reuse)
    try:
        with tempfile.TemporaryDirectory(prefix="bludash-bench-pages-") as var_dir:
            run(args, created, var_dir)
    finally:
        if args.smoke:  # CI's server keeps nothing of a smoke run
            drop_database(args.database_url)


def run(args: argparse.Namespace, created: bool, var_dir: str) -> None:
    use_production_settings(args.database_url, var_dir, zone=ZONE, key_seed=b"bludash pages bench")
    set_up_django()
    if created or not seed_is_reusable(args):
        seed(args)
    else:
        say("--reuse: the database already holds this seed; not seeding again")
    if args.seed_only:
        return
    results = measure_pages(args)
    report(args, results)
    fail_on_bad_responses(results)


def seed_is_reusable(args: argparse.Namespace) -> bool:
    from django.utils import timezone

    from calls.models import BluAccount, Borrower, CallRecord, Promise, Task, TaskDaySummary

    account = BluAccount.objects.filter(name="bench").first()
    if account is None or timezone.now() - account.created_at > REUSE_MAX_AGE:
        return False
    return (
        Task.objects.count() == args.tasks
        and CallRecord.objects.count() == args.calls
        and Borrower.objects.count() == args.borrowers
        and Promise.objects.count() == args.promises
        and TaskDaySummary.objects.exists()
        and not Task.objects.filter(calls_total=0).exists()
    )


# --- seeding ------------------------------------------------------------------------------------


@dataclass
class TaskPlan:
    number: int
    blu_task_id: str
    size: int
    start: datetime
    span: timedelta  # from the first call's start to the last's
    strategy_id: int
    bot_ids: tuple[int, int]


def plan_tasks(
    calls: int, tasks: int, days: int, now: datetime, rng: random.Random
) -> list[TaskPlan]:
    """Tasks of uneven size (a long tail of big lists, as call lists are), each one dialled over
    a few hours, spread over the last `days` days; oldest first, so rows are written in about the
    order a live sync would have written them."""
    weights = [rng.lognormvariate(0, 0.7) for _ in range(tasks)]
    total = sum(weights)
    sizes = [max(1, round(calls * w / total)) for w in weights]
    sizes[sizes.index(max(sizes))] += calls - sum(sizes)  # rounding: the sizes add up exactly
    plans = []
    for number, size in enumerate(sizes):
        # Blu dials a list at some tens of calls a minute: a big list takes most of a day.
        span = timedelta(seconds=min(size * 6, 10 * 3600))
        newest = now - span - timedelta(minutes=30)  # every call of every task has ended
        start = newest - timedelta(seconds=rng.uniform(0, days * 86400 - span.total_seconds()))
        plans.append(
            TaskPlan(
                number=number,
                blu_task_id="",
                size=size,
                start=start.replace(microsecond=0),
                span=span,
                strategy_id=rng.randrange(1000, 9999),
                bot_ids=(rng.randrange(100, 999), rng.randrange(100, 999)),
            )
        )
    plans.sort(key=lambda plan: plan.start)
    # The newest task is still being dialled: its last calls are in progress.
    plans[-1].start = now - plans[-1].span - timedelta(seconds=60)
    for index, plan in enumerate(plans):
        plan.blu_task_id = str(66_500_000 + index)
    return plans


def seed(args: argparse.Namespace) -> None:
    from django.db import connection

    from calls.models import (
        AccountDaySummary,
        BluAccount,
        Borrower,
        CallRecord,
        Conclusion,
        Promise,
        PromiseOutcomeDay,
        Repayment,
        SyncRun,
        Task,
        TaskDaySummary,
    )

    say(
        f"Seeding {args.calls:,} calls over {args.tasks:,} tasks, {args.borrowers:,} borrowers, "
        f"{args.promises:,} promises (load average {load()}) ..."
    )
    rng = random.Random(SEED)
    now = datetime.now(UTC).replace(microsecond=0)
    zone = ZoneInfo(ZONE)
    # A fresh database has nothing to clear; one --reuse refused is emptied here, with the
    # tables that refer to these.
    models = (
        Repayment,
        PromiseOutcomeDay,
        Promise,
        AccountDaySummary,
        TaskDaySummary,
        SyncRun,
        CallRecord,
        Borrower,
        Task,
    )
    tables = [m._meta.db_table for m in models]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    # The seeded conclusion dictionary stays (it refers to accounts, so they cannot be
    # truncated): only its link to the account that taught a code goes.
    Conclusion.objects.exclude(learned_from=None).update(learned_from=None)
    BluAccount.objects.all().delete()

    account = BluAccount(name="bench", base_url="https://api.blu.example", app_id="10001")
    account.time_zone = ZONE
    account.set_app_key("bench-app-key")  # not a key to anything
    account.save()
    plans = plan_tasks(args.calls, args.tasks, args.days, now, rng)
    tasks = Task.objects.bulk_create(
        Task(
            account=account,
            blu_task_id=plan.blu_task_id,
            name=f"Collections {plan.start.astimezone(zone):%d %b} list {plan.number % 7 + 1}",
            first_seen_at=plan.start - timedelta(minutes=5),
            last_seen_at=plan.start + plan.span,
            is_polled=is_polled(plan, now),
            last_sync_at=last_sync(plan, now),
            last_sync_ok=True,
            last_success_at=last_sync(plan, now),
        )
        for plan in plans
    )
    borrowers = BorrowerPlan.for_calls(args.calls, args.borrowers)
    step("calls", lambda: write_calls(plans, tasks, account.pk, borrowers, now))
    check_rows_as_sync_reads_them()
    step("borrowers", lambda: write_borrowers(account.pk, borrowers, now))
    step("promises and repayments", lambda: write_promises(args.promises))
    seed_sync_runs(plans, tasks, now)
    step("VACUUM (ANALYZE)", vacuum_analyze)  # statistics for the summaries' grouped reads
    step("task summaries", lambda: summarise(tasks))
    step("VACUUM (ANALYZE)", vacuum_analyze)


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def step(name: str, work: Callable[[], Any]) -> None:
    began = time.perf_counter()
    work()
    say(f"  {name}: {time.perf_counter() - began:.0f} s (load average {load()})")


def write_calls(
    plans: list[TaskPlan], tasks: list[Any], account_pk: int, borrowers: BorrowerPlan, now: datetime
) -> None:
    """Every call, made by the server (bench/_seed_sql.py) a chunk of tasks a statement, with
    the table's secondary indexes dropped meanwhile and built again after."""
    from django.db import connection

    from calls.conclusions.dictionary import DICTIONARY
    from calls.models import CallRecord

    first_calls = [0, *accumulate(plan.size for plan in plans)]
    rows = [
        (
            task.pk,
            plan.number,
            int(plan.blu_task_id),
            plan.size,
            first,
            plan.start,
            plan.span.total_seconds(),
            plan.strategy_id,
            *plan.bot_ids,
        )
        for plan, task, first in zip(plans, tasks, first_calls, strict=False)
    ]
    total = sum(CODE_MIX.values())
    bounds = [0.0, *(w / total for w in accumulate(CODE_MIX.values()))]
    bounds[-1] = 1.0
    codes = [
        (code, DICTIONARY[code][0], "connected" in DICTIONARY[code][1], lo, hi)
        for code, lo, hi in zip(CODE_MIX, bounds, bounds[1:], strict=False)
    ]
    table = CallRecord._meta.db_table
    params = {
        "account": account_pk,
        "now": now,
        "recordings": RECORDING_BASE,
        "not_json": seed_sql.NOT_JSON,
        "empty": seed_sql.EMPTY,
        "by_user_id": borrowers.by_user_id,
        "by_unique_id": borrowers.by_unique_id,
        "first": FIRST_NAMES,
        "firsts": len(FIRST_NAMES),
        "last": LAST_NAMES,
        "lasts": len(LAST_NAMES),
        "prefixes": MOBILE_PREFIXES,
        "nprefixes": len(MOBILE_PREFIXES),
    }
    numbers = sorted(plan.number for plan in plans)
    began = time.perf_counter()
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg's own, for COPY
        seed_sql.write_plan(cursor, rows, codes)
        cursor.execute(seed_sql.BLU_TIME_FUNCTION.format(zone=ZONE))
        cursor.execute("SELECT setseed(%s)", [0.20261127])
        indexes = seed_sql.secondary_indexes(cursor, table)
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        # The ids are made here, right by construction: no foreign key checked per row.
        cursor.execute("SET session_replication_role = replica")
        try:
            for first in range(0, len(numbers), seed_sql.TASKS_A_STATEMENT):
                chunk = numbers[first : first + seed_sql.TASKS_A_STATEMENT]
                django_cursor.execute(
                    seed_sql.CALLS, {**params, "from": chunk[0], "to": chunk[-1] + 1}
                )
                say(
                    f"  tasks {first + len(chunk):,} of {len(numbers):,} written "
                    f"({time.perf_counter() - began:.0f} s, load average {load()})"
                )
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for name, definition in indexes:
            cursor.execute(definition)
            say(f"  index {name} built ({time.perf_counter() - began:.0f} s)")
        cursor.execute("RESET maintenance_work_mem")


def write_borrowers(account_pk: int, borrowers: BorrowerPlan, now: datetime) -> None:
    """The borrowers the calls name (ids as the calls were given them), then each recounted from
    their calls as calls/ingest/borrowers.recount does."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            seed_sql.BORROWERS,
            {
                "account": account_pk,
                "by_unique_id": borrowers.by_unique_id,
                "total": borrowers.total,
            },
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('calls_borrower', 'id'), %s)", [borrowers.total]
        )
        cursor.execute("SET work_mem = '512MB'")
        cursor.execute(seed_sql.RECOUNT, {"since": now - timedelta(days=7), "now": now})
        cursor.execute("RESET work_mem")


def write_promises(promises: int) -> None:
    """Promises for the newest promise calls, a third kept by a repayment."""
    from django.db import connection

    from calls.models import Conclusion
    from calls.promises import outcome_days

    if not promises:
        return
    codes = list(Conclusion.objects.filter(promise_to_pay=True).values_list("code", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            seed_sql.PROMISES,
            {"codes": codes, "promises": promises, "default_days": seed_sql.DEFAULT_WINDOW_DAYS},
        )
        written = cursor.rowcount
        if written != promises:
            raise SystemExit(
                f"bench/pages.py: only {written:,} promise calls for {promises:,} promises"
            )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('calls_promise', 'id'), %s)", [promises]
        )
        cursor.execute(seed_sql.REPAYMENTS)
    # What the ledger keeps as each promise is written, counted once for the promises seeded.
    outcome_days.recount()


def check_rows_as_sync_reads_them(sample: int = 500) -> None:
    """The seeded fields must be what the sync would store for the seeded raw records: read a
    sample back through calls.blu.records.read_record and compare."""
    from calls.blu.records import read_record
    from calls.models import CallRecord

    zone = ZoneInfo(ZONE)
    for call in CallRecord.objects.order_by("?")[:sample]:
        fields = read_record(call.raw, zone)
        fields.pop("raw_json")
        differing = [name for name, value in fields.items() if getattr(call, name) != value]
        if differing:
            raise SystemExit(f"bench/pages.py: call {call.pk} seeded unlike the sync: {differing}")


def is_polled(plan: TaskPlan, now: datetime) -> bool:
    # Blu answers for 45 days only: older tasks are no longer polled.
    return plan.start > now - timedelta(days=45)


def last_sync(plan: TaskPlan, now: datetime) -> datetime:
    """A polled task was synced by one of the last polls (a quiet one hourly); an older one
    last when it left Blu's window."""
    if is_polled(plan, now):
        return now - timedelta(minutes=(plan.number * 7) % 55)
    return plan.start + timedelta(days=45)


def seed_sync_runs(plans: list[TaskPlan], tasks: list[Any], now: datetime) -> None:
    """A task's page lists its last syncs: a few finished runs each, polled every 5 minutes."""
    from calls.models import SyncRun

    runs = []
    for plan, task in zip(plans, tasks, strict=True):
        end = last_sync(plan, now)
        for k in range(6):
            started = end - timedelta(minutes=5 * k)
            runs.append(
                SyncRun(
                    task=task,
                    trigger="poll",
                    started_at=started,
                    finished_at=started + timedelta(seconds=2),
                    outcome=SyncRun.Outcome.OK,
                    pages=max(1, plan.size // 200),
                    created=plan.size if k == 5 else 0,
                    unchanged=0 if k == 5 else plan.size,
                )
            )
    SyncRun.objects.bulk_create(runs, batch_size=2000)


def summarise(tasks: list[Any]) -> None:
    """The summaries the sync keeps, made by the sync's own function for every task."""
    from calls.ingest.summaries import rebuild_account_hours, refresh_task_summary

    began = time.perf_counter()
    for n, task in enumerate(tasks, 1):
        refresh_task_summary(task, hours=False)
        if n % 500 == 0:
            say(f"  {n:,} task summaries ({time.perf_counter() - began:.0f} s)")
    # As `blu summaries` does: each account's hour rows once, not once per task.
    for account_pk in sorted({task.account_id for task in tasks}):
        rebuild_account_hours(account_pk)


def vacuum_analyze() -> None:
    """What autovacuum would do after a bulk load (it is off here): planner statistics, and the
    visibility map that lets counts and index scans skip the table."""
    from django.db import connection

    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    say(f"  VACUUM (ANALYZE) in {time.perf_counter() - began:.0f} s")


# --- the pages ----------------------------------------------------------------------------------


@dataclass
class Page:
    name: str
    ours: str
    naive: str
    built: Callable[[], str | None]  # None when the page is built, else why it is not


@dataclass
class Timing:
    median_ms: float | None = None
    runs_ms: list[float] | None = None
    queries: list[dict[str, str]] | None = None  # the warm-up request's SQL, with times
    problem: str | None = None  # why it was not timed, or what went wrong
    # Not timed by design (the page is not built, or the seed has no such deep page): reported,
    # not a failure. Any other problem is a response that was not the page: the run fails.
    skipped: bool = False
    # Naive side only: the context values in which it differs from ours (must be none).
    differs: list[str] | None = None
    warm_up_s: float | None = None  # how long the warm-up request took (with its SQL log)


def task_pks() -> tuple[int, int]:
    """The task of median size (what a manager opens most often) and the largest task."""
    from calls.models import Task

    tasks = list(Task.objects.order_by("calls_total", "pk").values_list("pk", flat=True))
    return tasks[len(tasks) // 2], tasks[-1]


def pages(deep: int) -> list[Page]:
    task, largest = task_pks()
    return [
        Page("Calls, first page (last 7 days)", "/calls/", "/naive/calls/", calls_built),
        Page(
            "Calls, one code (PTP)", "/calls/?code=PTP", "/naive/calls/?code=PTP", code_filter_built
        ),
        # The default 7 days hold about 7/60 of the calls (23,000 pages of 50 at 10,000,000
        # calls): page 5,000 is within them too. deep_page() finds its cursor, or says why not.
        deep_page(deep, "last 7 days", ""),
        deep_page(deep, "all time", "started_after="),
        Page("Task detail (median task)", f"/tasks/{task}/", f"/naive/tasks/{task}/", always),
        Page("Task detail (largest)", f"/tasks/{largest}/", f"/naive/tasks/{largest}/", always),
        Page("Overview", "/", "/naive/", overview_built),
        Page("Tasks list (bonus)", "/tasks/", "/naive/tasks/", always),
    ]


def always() -> str | None:
    return None


def calls_built() -> str | None:
    from calls.dashboard.views.calls import CallListView

    if getattr(CallListView, "filterset_class", None) is None:
        return "not built yet (CallListView has no filters)"
    return None


def code_filter_built() -> str | None:
    from calls.dashboard.views.calls import CallListView

    missing = calls_built()
    if missing:
        return missing
    if "code" not in CallListView.filterset_class.base_filters:
        return "not built yet (no code filter)"
    return None


def deep_page(deep: int, span: str, filters: str) -> Page:
    """Page `deep` of the calls table, as a user reaches it: by the `after` cursor that the
    "next" link of page deep - 1 carries (the start time and id of that page's last row), here
    read straight from the database instead of clicking 4,999 times. Beside it, the naive page
    asks for the same page by number: Django's Paginator counts the matching calls and skips
    the rows before it with OFFSET. A seed too small for the page is reported, not timed."""
    from django.http import QueryDict

    from calls.dashboard.filters import CallFilter
    from calls.dashboard.keyset import AFTER, Cursor
    from calls.models import CallRecord

    name = f"Calls, page {deep:,} ({span}, by cursor)"
    rows = CallFilter(QueryDict(filters), queryset=CallRecord.objects.all()).qs
    ordered = rows.order_by("-start_time", "-id").values_list("start_time", "pk")
    last_before = (deep - 1) * PER_PAGE - 1  # the last row of page deep - 1, counted from 0
    found = list(ordered[last_before : last_before + PER_PAGE + 1])
    if len(found) <= PER_PAGE:  # the page itself must be full (a last row and 50 after it)
        matching = rows.count()
        problem = f"its filters match {matching:,} calls: page {deep:,} needs {deep * PER_PAGE:,}"
        return Page(name, "/calls/", "/naive/calls/", lambda: problem)
    after = str(Cursor(*found[0]))
    extra = f"&{filters}" if filters else ""
    ours, naive = f"/calls/?{AFTER}={after}{extra}", f"/naive/calls/?page={deep}{extra}"
    return Page(name, ours, naive, calls_built)


def overview_built() -> str | None:
    from django.views.generic import TemplateView

    from calls.dashboard.views.overview import OverviewView

    if OverviewView.get_context_data is TemplateView.get_context_data:
        return "not built yet (OverviewView is the stub)"
    return None


def measure_pages(args: argparse.Namespace) -> list[tuple[Page, Timing, Timing]]:
    from django.contrib.auth.models import Group, User
    from django.test import Client, override_settings

    from calls.security import roles

    user, _ = User.objects.get_or_create(username="bench-manager")
    user.groups.add(Group.objects.get(name=roles.MANAGERS))
    client = Client()
    client.force_login(user)
    sys.modules["bench_pages_urls"] = naive_urlconf()
    results = []
    with override_settings(ROOT_URLCONF="bench_pages_urls"):
        if args.smoke:
            check_the_status_check(client)
        for page in pages(args.deep_page):
            problem = page.built()
            if problem:
                say(f"{page.name}: {problem}")
                skip = Timing(problem=problem, skipped=True)
                results.append((page, skip, Timing(problem=problem, skipped=True)))
                continue
            ours, naive = time_pair(client, page, args.runs, args.naive_budget)
            naive.differs = context_differences(page, user)
            if page.built is overview_built:
                naive.differs += kept_rate_differences()
            say(f"{page.name}: ours {describe(ours)}")
            say(f"{page.name}: naive {describe(naive)}")
            if naive.differs:
                say(f"WARNING: {page.name}: the naive page differs from ours in {naive.differs}")
            results.append((page, ours, naive))
    return results


def time_pair(client: Any, page: Page, runs: int, budget_s: float) -> tuple[Timing, Timing]:
    """Each side's median over `runs` requests, after one warm-up each whose SQL is kept. The
    two sides take turns, so that whatever else loads the machine weighs on both alike. A naive
    page whose warm-up took seconds is timed only as often as `budget_s` allows (at least
    NAIVE_MIN_RUNS times), after the turns."""
    ours, naive = warm_up(client, page.ours), warm_up(client, page.naive)
    naive_runs = runs
    if naive.warm_up_s:
        naive_runs = min(runs, max(NAIVE_MIN_RUNS, int(budget_s / naive.warm_up_s)))
    for n in range(runs):
        for url, timing, side_runs in ((page.ours, ours, runs), (page.naive, naive, naive_runs)):
            if timing.problem is None and n < side_runs:
                timed_request(client, url, timing)
    for timing in (ours, naive):
        if timing.problem is None and timing.runs_ms:
            timing.median_ms = statistics.median(timing.runs_ms)
    return ours, naive


def request(client: Any, url: str, *, secure: bool = True) -> Any:
    """The page as a browser gets it in production: over HTTPS. With debug off the settings
    redirect plain HTTP (SECURE_SSL_REDIRECT), so a plain request would time a 301."""
    return client.get(url, secure=secure)


def check_the_status_check(client: Any) -> None:
    """--smoke: a plain-HTTP request, which production settings answer with a redirect, must be
    caught by the same check every measured response goes through, or a redirect could again be
    timed unnoticed."""
    url = "/"
    timing = warm_up(client, url, secure=False)
    if timing.problem is None or not timing.problem.startswith("status 30"):
        raise SystemExit(
            "bench/pages.py: a plain-HTTP request to / was not caught as a redirect "
            f"({timing.problem or 'accepted as the page'}): either the settings no longer "
            "redirect to HTTPS with debug off, or the status check is broken"
        )
    say(f"smoke: a plain-HTTP request is caught: {timing.problem}")


def warm_up(client: Any, url: str, *, secure: bool = True) -> Timing:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    began = time.perf_counter()
    try:
        with CaptureQueriesContext(connection) as captured:
            response = request(client, url, secure=secure)
    except Exception as exc:  # a page being built may fail in any way: report it, go on
        return Timing(problem=f"error: {type(exc).__name__}: {str(exc)[:200]}")
    took = time.perf_counter() - began
    # Read now: the next request clears the connection's query log.
    queries = captured.captured_queries
    problem = page_problem(url, response)
    return Timing(runs_ms=[], queries=queries, problem=problem, warm_up_s=took)


def timed_request(client: Any, url: str, timing: Timing) -> None:
    assert timing.runs_ms is not None
    began = time.perf_counter()
    try:
        response = request(client, url)
    except Exception as exc:
        timing.problem = f"error on a timed run: {type(exc).__name__}: {str(exc)[:200]}"
        return
    timing.runs_ms.append((time.perf_counter() - began) * 1000)
    if response.status_code != 200:
        timing.problem = f"{status(response)} on a timed run"


def status(response: Any) -> str:
    """The status line a report names: a redirect says where it sends."""
    location = response.headers.get("Location")
    return f"status {response.status_code}" + (f" to {location}" if location else "")


def page_problem(url: str, response: Any) -> str | None:
    if response.status_code != 200:
        return status(response)
    if url.split("?")[0].endswith("/calls/"):
        # A calls page must show a full page of calls, or it did not measure what it names.
        rows = response.content.count(b"<tr") - 1
        if rows < PER_PAGE:
            return f"only {rows} rows shown"
    return None


def describe(timing: Timing) -> str:
    if timing.problem:
        return timing.problem
    assert timing.runs_ms is not None and timing.queries is not None
    return (
        f"median {timing.median_ms:.0f} ms (min {min(timing.runs_ms):.0f}, "
        f"max {max(timing.runs_ms):.0f}; {len(timing.runs_ms)} runs), {len(timing.queries)} queries"
    )


# --- the same pages, built the straightforward way ----------------------------------------------


def naive_urlconf() -> types.ModuleType:
    """A URLconf with the app's own URLs, and under /naive/ each measured page built the
    straightforward way: subclasses of the app's views that count every matching row to
    paginate (Django's Paginator) and compute their aggregates from the calls on every request
    instead of reading the summaries the sync keeps, rendering the same templates. Made here so
    that no app code changes for the bench."""
    from django.core.paginator import Paginator
    from django.urls import include, path

    from calls.dashboard.views import calls, overview, tasks
    from calls.health import sync_health

    # The views' own page sizes, with Django's Paginator: SELECT COUNT(*) on every request, and
    # pages by number (OFFSET), not by cursor (keyset).
    # (Django's own class in place of the app's subclasses is the point: hence the ignores.)
    class NaiveCallList(calls.CallListView):
        table_paginator_class = Paginator  # type: ignore[assignment]
        table_keyset = False

    class NaiveTaskDetail(tasks.TaskDetailView):
        table_paginator_class = Paginator  # type: ignore[assignment]
        table_keyset = False

        def get_context_data(self, **kwargs):
            # The task's counts from its calls, then our view's context made from them, then
            # its breakdown from the calls too. (Our view also reads the task's few summary
            # rows, about a millisecond, which this page does not use.)
            count_from_calls(self.object)
            context = super().get_context_data(**kwargs)
            context.update(naive_task_numbers(self.object))
            return context

    class NaiveTaskList(tasks.TaskListView):
        table_paginator_class = Paginator  # type: ignore[assignment]

        def get_queryset(self):
            return naive_task_rows(super().get_queryset())

        def get_table(self, **kwargs):
            table = super().get_table(**kwargs)
            with_live_counts(list(table.page.object_list.data))
            return table

    class NaiveOverview(overview.OverviewView):
        def get_context_data(self, **kwargs):
            # TemplateView's context, then the overview's numbers counted from the calls.
            context = super(overview.OverviewView, self).get_context_data(**kwargs)
            context.update(naive_overview_numbers())
            context["health"] = sync_health.sync_health()
            return context

    naive = [
        path("naive/", NaiveOverview.as_view()),
        path("naive/calls/", NaiveCallList.as_view()),
        path("naive/tasks/", NaiveTaskList.as_view()),
        path("naive/tasks/<int:pk>/", NaiveTaskDetail.as_view()),
    ]
    module = types.ModuleType("bench_pages_urls")
    module.urlpatterns = [*naive, path("", include("bludash.urls"))]  # type: ignore[attr-defined]
    return module


def code_totals_from_calls(calls: Any) -> list[Any]:
    """What summary_queries.code_totals reads from TaskDaySummary, grouped from the calls."""
    from django.db.models import Count, Sum

    from calls.dashboard import kpis
    from calls.ingest import summaries

    grouped = (
        calls.order_by()
        .annotate(summary_code=summaries.summary_code())
        .values("summary_code")
        .annotate(n=Count("id"), answered_n=Count("answer_time"), talk=Sum("duration"))
    )
    return [
        kpis.CodeTotal(r["summary_code"], r["n"], r["answered_n"], r["talk"] or 0) for r in grouped
    ]


def naive_task_numbers(task: Any) -> dict[str, Any]:
    """What calls.dashboard.views.tasks.task_numbers returns, from the task's calls instead of its
    TaskDaySummary rows (undated calls included, as there)."""
    from calls.dashboard.views.tasks import numbers_from
    from calls.models import CallRecord

    calls = CallRecord.objects.filter(task=task)
    numbers = numbers_from(task, code_totals_from_calls(calls))
    numbers["undated"] = calls.filter(start_time__isnull=True).count()
    return numbers


def naive_overview_numbers() -> dict[str, Any]:
    """What calls.dashboard.views.overview.overview_numbers returns, with the per-day, per-code
    counts grouped from the calls of the last 30 days instead of read from TaskDaySummary."""
    from django.db.models import Count, Sum
    from django.db.models.functions import TruncDate
    from django.utils import timezone

    from calls.dashboard import kept_rate, kpis, summary_queries
    from calls.dashboard.views.overview import numbers_from
    from calls.ingest import summaries
    from calls.models import CallRecord

    zone = timezone.get_default_timezone()
    today = summary_queries.company_today()
    first = today - timedelta(days=kpis.CHART_DAYS - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    grouped = (
        CallRecord.objects.filter(start_time__gte=since)
        .annotate(day=TruncDate("start_time", tzinfo=zone), summary_code=summaries.summary_code())
        .order_by()
        .values("day", "summary_code")
        .annotate(n=Count("id"), answered_n=Count("answer_time"), talk=Sum("duration"))
    )
    rows = [
        (
            row["day"],
            kpis.CodeTotal(row["summary_code"], row["n"], row["answered_n"], row["talk"] or 0),
        )
        for row in grouped
        if row["day"] <= today
    ]
    numbers = numbers_from(rows, first, today)
    numbers["undated"] = CallRecord.objects.filter(start_time__isnull=True).count()
    # The promises' kept rates counted from the promises (ours sums their counts by day).
    numbers["kept_rates"] = [
        kept_rate.counted_for_days(p.first, p.last) for p in numbers["periods"]
    ]
    return numbers


def naive_task_rows(tasks: Any) -> Any:
    """The tasks ordered by their last call as counted from the calls (one GROUP BY over every
    call), not by the last_call_at the sync stores."""
    from django.db.models import Max

    return tasks.annotate(live_last_call=Max("calls__start_time")).order_by(
        "-live_last_call", "-pk"
    )


def with_live_counts(page: list[Any]) -> None:
    """Overwrites the summary fields of the tasks shown with counts from their calls, so the
    table renders numbers computed in this request: a few grouped queries per task shown."""
    for task in page:
        count_from_calls(task)


def count_from_calls(task: Any) -> None:
    """Sets the task's summary fields (what calls.ingest.summaries.refresh_task_summary stores) from
    its calls, without storing them."""
    from django.db.models import Count, Max, Min, Q, Sum

    from calls.ingest import summaries
    from calls.models import CallRecord, Conclusion

    calls = CallRecord.objects.filter(task=task)
    ended = Q(end_time__isnull=False) | ~Q(code="")
    totals = calls.aggregate(
        total=Count("id"),
        final=Count("id", filter=ended),
        answered=Count("answer_time"),
        talk=Sum("duration"),
        first=Min("start_time"),
        last=Max("start_time"),
    )
    task.calls_total, task.calls_final = totals["total"], totals["final"]
    task.calls_answered, task.talk_seconds = totals["answered"], totals["talk"] or 0
    task.first_call_at, task.last_call_at = totals["first"], totals["last"]
    task.code_counts = {t.code: t.calls for t in code_totals_from_calls(calls) if t.code}
    conclusions = Conclusion.by_code()
    for column, flag in summaries.FLAG_COLUMNS.items():
        setattr(task, column, summaries.flagged_calls(task.code_counts, conclusions, flag))
    # Ended calls only: one still talking reports 0 seconds.
    talked = calls.filter(ended, answer_time__isnull=False, duration__isnull=False)
    durations = talked.order_by("duration").values_list("duration", flat=True)
    answered = durations.count()
    task.median_talk_seconds = durations[answered // 2] if answered else None


# Context entries not compared: the view itself, the filter form, the sync-health strip (it
# states the time it was checked), the paginators (the table's rows and totals are compared) and
# the kept rates (they cut at the time of the request, which passes in a slow naive one: they are
# compared at one time by kept_rate_differences).
NOT_COMPARED = {"view", "filter", "health", "paginator", "page_obj", "is_paginated", "kept_rates"}


def kept_rate_differences() -> list[str]:
    """The overview's kept rates as ours reads them (the promises' counts by day) and as counted
    from the promises, both at the same time: empty when they agree."""
    from django.utils import timezone

    from calls.dashboard import kept_rate, kpis, summary_queries

    now, today = timezone.now(), summary_queries.company_today()
    spans = [(today - timedelta(days=days - 1), today) for _, days in kpis.PERIODS]
    ours = kept_rate.for_spans(spans, now)
    counted = [kept_rate.counted_for_days(first, last, now) for first, last in spans]
    return [] if ours == counted else [f"kept_rates: {ours} read, {counted} counted"]


def context_differences(page: Page, user: Any) -> list[str]:
    """The template context entries in which the naive page differs from ours: the ratio
    compares two pages only if they show the same things. Equal numbers also prove that the
    seeded summaries agree with the calls. What is compared is what the page shows: a table's
    rows on the page and its total where both sides count one, never the whole queryset behind
    it (10,000,000 calls would be read into memory to compare it)."""
    try:
        ours, naive = context_of(page.ours, user), context_of(page.naive, user)
        keys = (set(ours) | set(naive)) - NOT_COMPARED - unpaged_rows(ours) - unpaged_rows(naive)
        return sorted(
            key
            for key in keys
            if key not in ours
            or key not in naive
            or not same_shown(comparable(ours[key]), comparable(naive[key]))
        )
    except Exception as exc:  # a page being built may fail in any way: report it, go on
        return [f"not comparable: {type(exc).__name__}: {str(exc)[:200]}"]


def unpaged_rows(context: dict[str, Any]) -> set[str]:
    """The entries holding every row the page's table pages through (`object_list`, and the
    list view's copy of it, `callrecord_list` or `task_list`): the table shows a page of them."""
    rows = context.get("object_list")
    return {key for key, value in context.items() if rows is not None and value is rows}


def context_of(url: str, user: Any) -> dict[str, Any]:
    """The context a page's view hands its template, without rendering it."""
    from django.test import RequestFactory
    from django.urls import resolve

    # Secure, as the timed requests are (the view itself never redirects: no middleware here).
    made = RequestFactory().get(url, secure=True)
    made.user = user
    match = resolve(made.path_info)
    return match.func(made, *match.args, **match.kwargs).context_data


@dataclass(frozen=True)
class Shown:
    """A table as its page shows it: the rows, and how many rows match when the page counts
    them (the tasks list says so; the calls pages, paged by cursor, never count)."""

    rows: list[Any]
    total: int | None


def same_shown(ours: Any, naive: Any) -> bool:
    if isinstance(ours, Shown) and isinstance(naive, Shown):
        # A total shown on one side only is the naive page's count, which ours does not show.
        totals = ours.total is None or naive.total is None or ours.total == naive.total
        return ours.rows == naive.rows and totals
    return ours == naive


def comparable(value: Any) -> Any:
    """Model instances by their field values (== compares only primary keys), querysets by the
    rows they hold (a sliced one: the few a page lists), and tables by the page they show."""
    from django.core.paginator import Paginator
    from django.db.models import Model, QuerySet
    from django_tables2 import LazyPaginator, Table

    if isinstance(value, Model):
        return {f.attname: getattr(value, f.attname) for f in value._meta.concrete_fields}
    if isinstance(value, QuerySet):
        if not value.query.is_sliced:
            raise ValueError("an unsliced queryset in the context: compare the rows a page shows")
        return [comparable(item) for item in value]
    if isinstance(value, Table):
        rows = [comparable(row.record) for row in value.page.object_list]
        paginator = getattr(value, "paginator", None)
        counts = isinstance(paginator, Paginator) and not isinstance(paginator, LazyPaginator)
        return Shown(rows, paginator.count if counts else None)
    return value


# --- the report ---------------------------------------------------------------------------------


def report(args: argparse.Namespace, results: list[tuple[Page, Timing, Timing]]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0].split(" ")[0]
    print()
    print(
        f"Page speed over {args.calls:,} calls and {args.tasks:,} tasks: median of {args.runs} "
        "requests after one warm-up, server side (django.test.Client, signed in as a manager)"
    )
    print(
        f"  Machine: nproc {len(os.sched_getaffinity(0))}, Python {platform.python_version()}, "
        f"PostgreSQL {version}; {datetime.now(UTC):%Y-%m-%d %H:%M UTC}; load average "
        f"{os.getloadavg()[0]:.1f} (other work on the machine slows every figure)"
    )
    print()
    header = [
        "page",
        "ours ms",
        "ours min",
        "naive ms",
        "naive/ours",
        "queries",
        "SQL ms",
        "same page",
        f"< {AIM_MS:.0f} ms",
    ]
    rows = []
    for page, ours, naive in results:
        if ours.problem or ours.median_ms is None:
            rows.append([page.name, ours.problem or "", "", "", "", "", "", "", ""])
            continue
        assert ours.queries is not None and ours.runs_ms
        naive_ms = "" if naive.median_ms is None else f"{naive.median_ms:,.0f}"
        if naive_ms and naive.runs_ms and len(naive.runs_ms) < args.runs:
            naive_ms += f" ({len(naive.runs_ms)} runs)"
        ratio = "" if naive.median_ms is None else f"{naive.median_ms / ours.median_ms:.1f}x"
        rows.append(
            [
                page.name,
                f"{ours.median_ms:,.0f}",
                f"{min(ours.runs_ms):,.0f}",
                naive_ms or (naive.problem or ""),
                ratio,
                str(len(ours.queries)),
                f"{sql_ms(ours.queries):,.0f}",
                "NO" if naive.differs else "yes",
                "yes" if ours.median_ms < AIM_MS else "NO",
            ]
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells))
    print()
    print(
        "ms: the median of the timed requests; ours min: the fastest (a quieter machine's "
        "figure).\n"
        "naive: the same page with Django's Paginator (a COUNT of the matching calls, pages by "
        "number with OFFSET) and its\n  aggregates grouped from the calls in the request; "
        "(n runs): a slow naive page timed fewer times. queries, SQL ms: ours, in the "
        "warm-up request. same page: the naive page's template context\n  holds the same values "
        "and table rows as ours (else the ratio compares different pages)."
    )
    print()
    for page, ours, _ in results:
        if ours.queries is None:
            continue
        counts = [q for q in ours.queries if counts_calls(q["sql"])]
        for query in counts:
            print(f"{page.name}: counts calls ({query['time']} s): {query['sql'][:300]}")
        if ours.median_ms is not None and ours.median_ms >= AIM_MS:
            explain_slowest(page, ours.queries)
        elif args.show_sql:
            print(f"\n{page.name}: its slowest queries in the warm-up")
            for query in sorted(ours.queries, key=lambda q: float(q["time"]), reverse=True)[:5]:
                print(f"  {float(query['time']) * 1000:6.1f} ms  {query['sql'][:400]}")


def fail_on_bad_responses(results: list[tuple[Page, Timing, Timing]]) -> None:
    """A figure for a response that was not the page (a redirect, an error, a short table), or a
    ratio of two pages that show different things, would mislead: after the report, which shows
    them too, the run fails and names each one."""
    bad = [
        f"  {page.name} ({side}, {url}): {timing.problem}"
        for page, ours, naive in results
        for side, url, timing in (("ours", page.ours, ours), ("naive", page.naive, naive))
        if timing.problem and not timing.skipped
    ]
    bad += [
        f"  {page.name} ({page.naive}): the naive page differs from ours in {naive.differs}"
        for page, _, naive in results
        if naive.differs
    ]
    if bad:
        raise SystemExit(
            "bench/pages.py: these pages were not measured as the page they name (every measured "
            "response must be a 200 with the page on it):\n" + "\n".join(bad)
        )


def sql_ms(queries: list[dict[str, str]]) -> float:
    """The time the warm-up request spent in the database, as Django's debug cursor timed it."""
    return sum(float(query["time"]) for query in queries) * 1000


def counts_calls(sql: str) -> bool:
    text = sql.upper()
    return "COUNT(" in text and '"CALLS_CALLRECORD"' in text


def explain_slowest(page: Page, queries: list[dict[str, str]], top: int = 3) -> None:
    """EXPLAIN ANALYZE of the page's slowest queries (from the warm-up): where its time goes."""
    from django.db import connection

    print(f"\n{page.name} is over {AIM_MS:.0f} ms; its slowest queries:")
    # Only what EXPLAIN can explain: a page's SAVEPOINTs and COMMIT have no plan.
    explainable = [q for q in queries if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))]
    slowest = sorted(explainable, key=lambda q: float(q["time"]), reverse=True)[:top]
    for query in slowest:
        print(f"\n-- {float(query['time']) * 1000:.0f} ms in the warm-up: {query['sql'][:600]}")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            for (line,) in cursor.fetchall()[:25]:
                print(f"   {line}")


if __name__ == "__main__":
    main()
