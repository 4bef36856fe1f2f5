"""How fast the promises page, the borrower page and the borrower search answer over many
promises.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<bench db> \\
        .venv/bin/python bench/promises.py [--promises 1000000] [--borrowers 500000] [--runs 9]

Fills the database DATABASE_URL names (migrated here; its calls, borrowers and promises are
replaced: never point it at real data) with one account, 1,000 tasks, one promise call per
promise spread over the last 120 days, borrowers sharing them, and a repayment for every third
promise, written with INSERT ... SELECT generate_series; then VACUUM ANALYZE. Each page is then
requested through django.test.Client as a manager: one warm-up, then --runs timed requests, the
median printed (the server's time: middleware, queries and rendering; no network). Run by hand,
never by tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bludash.settings")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
os.environ.setdefault("BLUDASH_TIME_ZONE", "Asia/Colombo")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from calls.security import roles  # noqa: E402

FILL = """
TRUNCATE calls_repayment, calls_promise, calls_callrecord, calls_borrower, calls_task,
    calls_taskdaysummary CASCADE;
INSERT INTO calls_task (account_id, blu_task_id, name, first_seen_at, is_polled, last_error,
    consecutive_failures, calls_total, calls_final, calls_answered, talk_seconds, code_counts,
    calls_connected, calls_right_party, calls_promised, sync_owner, blu_unknown_tries,
    learned_from_callback)
SELECT %(account)s, 't' || n, 'Task ' || n, now(), false, '', 0, 0, 0, 0, 0, '{}', 0, 0, 0, '',
    0, false FROM generate_series(1, 1000) n;
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
SELECT %(account)s, (SELECT min(id) FROM calls_task) + n %% 1000, 'c' || n, '', '', '', '', 2,
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


def timed(client: Client, url: str, runs: int) -> float:
    response = client.get(url, secure=True)
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        client.get(url, secure=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--promises", type=int, default=1_000_000)
    parser.add_argument("--borrowers", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--reuse", action="store_true", help="Keep the data already there")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("DATABASE_URL must name a PostgreSQL bench database")
    call_command("migrate", verbosity=0)
    from calls.models import BluAccount, Borrower

    account = BluAccount.objects.filter(name="bench").first()
    if account is None:
        account = BluAccount(name="bench", base_url="https://blu.example", app_id="1")
        account.set_app_key("bench")
        account.save()
    if not args.reuse:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                FILL,
                {"account": account.pk, "borrowers": args.borrowers, "promises": args.promises},
            )
        connection.connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(f"filled in {time.perf_counter() - started:.0f} s")
    user, _ = get_user_model().objects.get_or_create(username="bench-manager")
    user.groups.set([Group.objects.get(name=roles.MANAGERS)])
    client = Client()
    client.force_login(user)
    key = Borrower.objects.order_by("pk").values_list("key", flat=True)[args.borrowers // 2]
    pages = {
        "promises (due today)": reverse("calls:promise_list"),
        "promises broken": reverse("calls:promise_list") + "?state=broken",
        "promises kept, 120 days": reverse("calls:promise_list")
        + "?state=kept&ends_after=2020-01-01&ends_before=2999-01-01",
        "promises of a task": reverse("calls:promise_list") + "?state=broken&task=t500",
        "borrower page": reverse("calls:borrower_detail", kwargs={"key": key}),
        "borrower search": reverse("calls:borrower_list") + "?q=" + key[:7],
    }
    for name, url in pages.items():
        print(f"{name:28} {timed(client, url, args.runs):7.1f} ms  {url}")


if __name__ == "__main__":
    main()
