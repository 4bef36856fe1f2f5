"""How fast the promises page, the borrower page and the borrower search answer over many
promises (issue 13: at 10M calls, 2M borrowers and 1M promises, each under 100 ms median, server
side).

    .venv/bin/python bench/promises.py [--promises 1000000] [--borrowers 500000] [--tasks 1000]
        [--runs 9] [--reuse] [--database-url postgres://.../bludash_bench_promises] [--smoke]

It works in its own PostgreSQL database: --database-url, by default `bludash_bench_promises` on
the server DATABASE_URL names (127.0.0.1:5432 without one), never DATABASE_URL's own database
nor the server's (postgres, the templates). **That database is dropped and created again**
unless --reuse finds it holding the same sizes. It is migrated, then filled with one account,
--tasks tasks, one promise call per promise spread over the last 120 days, --borrowers borrowers
sharing them, and a repayment for every kept promise, written with INSERT ... SELECT
generate_series; then VACUUM ANALYZE, as autovacuum would after a bulk load.

Django runs with production settings (debug off, HTTPS only, static files through the manifest),
and every request is a secure one. Each page is requested through django.test.Client as a
manager: one warm-up, then --runs timed requests; the median is printed beside the 100 ms aim
(the server's time: middleware, queries and rendering; no network). Every measured response must
be a 200 and show what the data holds (rows on the promises tabs, the borrower's promises, only
matching borrowers in the search); otherwise the script exits non-zero after its table.

--smoke: 600 promises, 200 borrowers, 10 tasks, 2 runs, in `bludash_bench_promises_smoke` (or
--database-url), dropped afterwards: what CI runs, its milliseconds mean nothing. It also sends
one plain-HTTP request and fails unless the status check catches its redirect. Run by hand,
never by tests; bench/README.md has the figures.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _databases import bench_database_url, drop_database, ensure_database
from _production import set_up_django, use_production_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATABASE = "bludash_bench_promises"
SMOKE_DATABASE = "bludash_bench_promises_smoke"
ZONE = "Asia/Colombo"
AIM_MS = 100.0  # issue 13: borrower page, borrower search and promises page, median server side
SMOKE = {"promises": 600, "borrowers": 200, "tasks": 10, "runs": 2, "reuse": False}
PAGE_ROWS = 50  # what the promises table and the borrower's ledger show
BORROWER_LINK = re.compile(r'href="/borrowers/([^"/]+)/"')
LEDGER_ROW = 'class="state state-'

FILL = """
TRUNCATE calls_repayment, calls_promiseoutcomeday, calls_promise, calls_callrecord,
    calls_borrower, calls_task, calls_taskdaysummary RESTART IDENTITY CASCADE;
INSERT INTO calls_task (account_id, blu_task_id, name, first_seen_at, is_polled, last_error,
    consecutive_failures, calls_total, calls_final, calls_answered, talk_seconds, code_counts,
    calls_connected, calls_right_party, calls_promised, sync_owner, blu_unknown_tries,
    learned_from_callback)
SELECT %(account)s, 't' || n, 'Task ' || n, now(), false, '', 0, 0, 0, 0, 0, '{}', 0, 0, 0, '',
    0, false FROM generate_series(1, %(tasks)s) n;
INSERT INTO calls_borrower (account_id, key, key_source, name, order_id, phone, search_name,
    first_call_at, last_call_at, calls_7d)
SELECT %(account)s, 'U' || lpad(n::text, 9, '0'), 'uniqueId', 'Name ' || n, (10000 + n)::text,
    '0159***' || lpad((n %% 10000)::text, 4, '0'), 'name ' || n,
    now() - interval '120 days', now() - (n %% 120) * interval '1 day', n %% 5
FROM generate_series(1, %(borrowers)s) n;
INSERT INTO calls_callrecord (account_id, task_id, call_id, job_id, user_id, phone, name, status,
    code, "desc", strategy_id, bot_id, start_time, answer_time, end_time, duration, record_url,
    ext_vars, ext_vars_raw, raw, problems, content_hash, first_seen_at, last_changed_at,
    borrower_id)
SELECT %(account)s, (SELECT min(id) FROM calls_task) + n %% %(tasks)s, 'c' || n, '', '', '', '', 2,
    'PTP', '', '', '', t, t, t + interval '40 seconds', 40, '', '{}', '', '{}', '[]', '', t, t,
    (SELECT min(id) FROM calls_borrower) + n %% %(borrowers)s
FROM (SELECT n, now() - (n::float / %(promises)s) * interval '120 days' AS t
      FROM generate_series(1, %(promises)s) n) s;
INSERT INTO calls_promise (account_id, task_id, borrower_id, call_id, made_at, window_start,
    window_end, clear_time, outcome, paid_amount)
SELECT account_id, task_id, borrower_id, id, start_time, start_time + interval '1 day',
    start_time + interval '2 days', true,
    CASE WHEN id %% 3 = 0 THEN 'kept' WHEN id %% 7 = 0 THEN 'superseded' ELSE 'open' END,
    CASE WHEN id %% 3 = 0 THEN 100 ELSE 0 END
FROM calls_callrecord;
INSERT INTO calls_repayment (account_id, borrower_id, amount, paid_at, order_id, reference,
    source, imported_at, promise_id)
SELECT account_id, borrower_id, 100, window_start + interval '3 hours', '', 'R' || id, 'file',
    now(), id FROM calls_promise WHERE outcome = 'kept';
"""


@dataclass
class Page:
    name: str
    url: str
    # What the page must show, or None; a message when it does not.
    check: Callable[[str], str | None]
    times: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--promises", type=int, default=1_000_000)
    parser.add_argument("--borrowers", type=int, default=500_000)
    parser.add_argument("--tasks", type=int, default=1_000)
    parser.add_argument(
        "--calls",
        type=int,
        help="calls the database holds (default: one a promise, as the fill makes them); "
        "with --reuse on bench/pages.py's seed, its --calls",
    )
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database if it holds these sizes"
    )
    parser.add_argument(
        "--database-url",
        help=f"a PostgreSQL URL whose database may be dropped (default {DATABASE}, "
        f"{SMOKE_DATABASE} with --smoke, on DATABASE_URL's server)",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny and quick: what CI runs")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    args.calls = args.promises if args.calls is None else args.calls
    default = SMOKE_DATABASE if args.smoke else DATABASE
    args.url = bench_database_url(args.database_url, default, "bench/promises.py")
    return args


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    args = parse_args()
    created = ensure_database(args.url, fresh=not args.reuse)
    try:
        with tempfile.TemporaryDirectory(prefix="bludash-bench-promises-") as var_dir:
            use_production_settings(args.url, var_dir, zone=ZONE, key_seed=b"bench promises")
            set_up_django()
            failures = run(args, created)
    finally:
        if args.smoke:  # CI's server keeps nothing of a smoke run
            drop_database(args.url)
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        raise SystemExit(1)


def run(args: argparse.Namespace, created: bool) -> list[str]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from calls.models import BluAccount
    from calls.security import roles

    account = BluAccount.objects.filter(name="bench").first()
    if account is None:
        account = BluAccount(name="bench", base_url="https://blu.example", app_id="1")
        account.set_app_key("bench")
        account.save()
    if created or not holds_the_sizes(args):
        fill(args, account.pk)
    else:
        say("--reuse: the database already holds these sizes; not filling again")
    failures = check_the_fill(args)
    user, _ = get_user_model().objects.get_or_create(username="bench-manager")
    user.groups.set([Group.objects.get(name=roles.MANAGERS)])
    client = Client()
    client.force_login(user)
    measured = pages(args)
    if args.smoke:
        failures += check_the_status_check(client, measured[0].url)
    load_before = load()
    for page in measured:
        measure(client, page, args.runs)
    report(args, measured, load_before)
    for page in measured:
        failures += [f"{page.name} ({page.url}): {problem}" for problem in page.problems]
    return failures


# --- the data -----------------------------------------------------------------------------------


def holds_the_sizes(args: argparse.Namespace) -> bool:
    from calls.models import Borrower, CallRecord, Promise, Task

    return (
        Task.objects.count() == args.tasks
        and CallRecord.objects.count() == args.calls
        and Borrower.objects.count() == args.borrowers
        and Promise.objects.count() == args.promises
    )


def fill(args: argparse.Namespace, account: int) -> None:
    from django.db import connection

    started = time.perf_counter()
    sizes = {
        "account": account,
        "tasks": args.tasks,
        "borrowers": args.borrowers,
        "promises": args.promises,
    }
    with connection.cursor() as cursor:
        cursor.execute(FILL, sizes)
    filled = time.perf_counter()
    with connection.cursor() as cursor:  # autocommit: VACUUM runs outside a transaction
        cursor.execute("VACUUM ANALYZE")
    say(
        f"filled in {filled - started:.0f} s, VACUUM ANALYZE in {time.perf_counter() - filled:.0f}"
        f" s (load average {load()})"
    )


def check_the_fill(args: argparse.Namespace) -> list[str]:
    """The rows the fill should have written, so that no page is timed over the wrong data."""
    from calls.models import Borrower, CallRecord, Promise, Repayment, Task

    kept = Promise.objects.filter(outcome="kept")
    counts = [
        ("tasks", Task.objects.count(), args.tasks),
        ("borrowers", Borrower.objects.count(), args.borrowers),
        ("calls", CallRecord.objects.count(), args.calls),
        ("promises", Promise.objects.count(), args.promises),
        ("kept promises", kept.count(), args.promises // 3),
        ("repayments", Repayment.objects.count(), args.promises // 3),
    ]
    return [
        f"the fill: {got:,} {name}, expected {want:,}" for name, got, want in counts if got != want
    ]


# --- the pages ----------------------------------------------------------------------------------


def pages(args: argparse.Namespace) -> list[Page]:
    from datetime import timedelta

    from django.urls import reverse
    from django.utils import timezone

    from calls.models import Borrower, Promise
    from calls.promises.ledger import grace

    # A borrower with promises: the fill gives borrower n the promise calls n, n + borrowers, ...
    borrower = Borrower.objects.order_by("pk")[min(args.borrowers, args.promises) // 2]
    their_promises = Promise.objects.filter(borrower=borrower).count()
    term = borrower.key[:7]
    promises = reverse("calls:promise_list")
    # A task with broken promises in the default period (a week back): the fill's t500, or in
    # bench/pages.py's seed, where tasks are spread over 60 days, a recent one.
    now = timezone.now()
    task = (
        Promise.objects.filter(
            outcome="open",
            window_end__lt=now - grace(),
            window_end__gte=now - timedelta(days=6),
            task__blu_task_id=f"t{(args.tasks + 1) // 2}",
        ).values_list("task__blu_task_id", flat=True)[:1]
        or Promise.objects.filter(
            outcome="open", window_end__lt=now - grace(), window_end__gte=now - timedelta(days=6)
        )
        .order_by("-window_end")
        .values_list("task__blu_task_id", flat=True)[:1]
    )
    task_id = task[0] if task else f"t{(args.tasks + 1) // 2}"
    return [
        Page("promises (due today)", promises, always),
        Page("promises broken", promises + "?state=broken", promise_rows),
        Page(
            "promises kept, 120 days",
            promises + "?state=kept&ends_after=2020-01-01&ends_before=2999-01-01",
            promise_rows,
        ),
        Page(
            "promises of a task",
            promises + f"?state=broken&task={task_id}",
            promise_rows,
        ),
        Page(
            "borrower page",
            reverse("calls:borrower_detail", kwargs={"key": borrower.key}),
            lambda html: borrower_shown(html, borrower.name, their_promises),
        ),
        Page(
            "borrower search",
            reverse("calls:borrower_list") + "?q=" + term,
            lambda html: search_shown(html, term),
        ),
        Page("borrower list", reverse("calls:borrower_list"), lambda html: search_shown(html, "")),
        deep_borrower_page(min(250_000, args.borrowers // 2)),
    ]


def deep_borrower_page(row: int) -> Page:
    """The borrower list from row `row` on, as its "next" links reach it (the cursor of the row
    before, read from the database here): as cheap as the first page, or the paging is wrong."""
    from django.urls import reverse

    from calls.dashboard.borrowers import DEFAULT_SORT, SORTS, BorrowerCursor
    from calls.models import Borrower

    before = Borrower.objects.filter(last_call_at__isnull=False).order_by(*SORTS[DEFAULT_SORT])[
        row - 1
    ]
    cursor = BorrowerCursor.of(before, DEFAULT_SORT)
    url = reverse("calls:borrower_list") + f"?after={cursor}"
    return Page(f"borrower list, row {row:,}", url, lambda html: search_shown(html, ""))


def always(html: str) -> str | None:
    return None


def promise_rows(html: str) -> str | None:
    rows = len(BORROWER_LINK.findall(html))
    return None if 0 < rows <= PAGE_ROWS else f"{rows} promise rows, expected 1 to {PAGE_ROWS}"


def borrower_shown(html: str, name: str, promises: int) -> str | None:
    rows, want = html.count(LEDGER_ROW), min(promises, PAGE_ROWS)
    if name not in html:
        return f"the borrower's name {name!r} is not shown"
    return None if rows == want else f"{rows} promises shown, expected {want}"


def search_shown(html: str, term: str) -> str | None:
    keys = BORROWER_LINK.findall(html)
    if not keys:
        return "no borrower found"
    strays = [key for key in keys if not key.startswith(term)]
    return f"borrowers not matching {term!r}: {strays[:3]}" if strays else None


def check_the_status_check(client: Any, url: str) -> list[str]:
    """With debug off a plain request is redirected to HTTPS: the check must catch that, or a
    run could time redirects and pass."""
    plain = Page("plain HTTP", url, always)
    measure(client, plain, 0, secure=False)
    return [] if plain.problems else [f"a plain request to {url} was not caught as a failure"]


def measure(client: Any, page: Page, runs: int, *, secure: bool = True) -> None:
    """One warm-up, then `runs` timed requests; every response checked, none left out."""
    for run in range(runs + 1):
        started = time.perf_counter()
        response = client.get(page.url, secure=secure)
        elapsed = time.perf_counter() - started
        if run:
            page.times.append(elapsed * 1000)
        if response.status_code != 200:
            where = f" to {response['Location']}" if response.has_header("Location") else ""
            page.problems.append(f"request {run}: status {response.status_code}{where}")
            return
        problem = page.check(response.content.decode())
        if problem:
            page.problems.append(f"request {run}: {problem}")
            return


def report(args: argparse.Namespace, measured: list[Page], load_before: str) -> None:
    print(
        f"\n{args.promises:,} promises, {args.borrowers:,} borrowers, {args.tasks:,} tasks; "
        f"median of {args.runs} secure requests after one warm-up, debug off; "
        f"load average before {load_before}, after {load()}"
    )
    print(f"{'page':28} {'median ms':>9} {'fastest':>8}  under {AIM_MS:.0f} ms  URL")
    for page in measured:
        if page.problems or not page.times:
            print(f"{page.name:28} {'FAILED':>9} {'':>8}  {'':12}  {page.url}")
            continue
        median = statistics.median(page.times)
        verdict = "yes" if median < AIM_MS else "NO"
        print(f"{page.name:28} {median:9.1f} {min(page.times):8.1f}  {verdict:12}  {page.url}")
    if args.smoke:
        print("(--smoke: tiny data; the milliseconds mean nothing)")


if __name__ == "__main__":
    main()
