"""What keeping the figures current costs a callback: ours applies the change to the task's
totals and day rows in the callback's transaction; the naive way recounts the task afterwards.

    .venv/bin/python bench/callbacks.py [--calls 20000] [--callbacks 200]
        [--postgres postgres://postgres@127.0.0.1:5432/bludash_bench] [--smoke]

A task with --calls stored calls (spread over 30 days and a dozen codes) takes --callbacks
callbacks through `calls.ingest.callbacks.receive`, as the view hands them over: half new calls,
half the end of a call that was in progress. Measured three ways on the same database, each
callback timed alone: the write without figures (what a callback cost before they were kept),
ours (the write with summaries.apply_changes), and naive (ours, then
summaries.refresh_task_summary). Each database runs in a child process of its own with debug
off, as production does: SQLite in a temporary file and, with --postgres, that database dropped
and created again. --smoke: 300 calls and 10 callbacks on SQLite, so CI keeps it running. Run by
hand, never by tests; bench/README.md has the figures.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FERNET_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"bludash bench").digest()).decode()
CODES = ["PTP", "HPTP", "AP", "NOST", "LMS", "Busy", "NotOneself", "D01", "D02", "D03", "CPL"]
TASK_ID = "66547748"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--callbacks", type=int, default=200)
    parser.add_argument("--postgres", help="a PostgreSQL URL whose database may be dropped")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.calls, args.callbacks, args.postgres = 300, 10, None
    return args


def record(n: int, *, ended: bool = True, day: int | None = None) -> dict[str, Any]:
    day = n % 30 + 1 if day is None else day
    start = f"2024-05-{day:02d} {9 + n % 10:02d}:{n % 60:02d}:00"
    answer = f"2024-05-{day:02d} {9 + n % 10:02d}:{n % 60:02d}:10"
    end = f"2024-05-{day:02d} {9 + n % 10:02d}:{n % 60:02d}:50" if ended else ""
    return {
        "taskId": TASK_ID,
        "callId": f"call-{n}",
        "userId": str(100_000 + n),
        "phone": "0159***0188",
        "name": f"Borrower {n}",
        "status": 2,
        "code": CODES[n % len(CODES)] if ended else "",
        "desc": "",
        "startTime": start,
        "answerTime": answer,
        "endTime": end,
        "duration": 40 if ended else None,
        "extVars": json.dumps({"uniqueId": f"U{n}"}),
    }


def child(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from calls.ingest import callbacks, page_writer, polling, summaries
    from calls.models import BluAccount

    call_command("migrate", verbosity=0)
    account = BluAccount(name="bench", base_url="https://blu.invalid", app_id="1")
    account.set_app_key("bench-app-key")
    account.save()
    task, _ = polling.register_task(account, TASK_ID)
    # The stored calls, a few pages at a time; the last ones still in progress, for each way to
    # end a share of its own.
    half = args.callbacks // 2
    in_progress = args.calls - 3 * half
    seeded = [record(n, ended=n < in_progress) for n in range(args.calls)]
    for first in range(0, len(seeded), 500):
        parsed, result = page_writer.read_page(seeded[first : first + 500], account)
        page_writer.write_records(task, parsed, result)

    # As autovacuum and the sync's own ANALYZE (upsert.refresh_statistics) leave a table in
    # production: planner statistics, and on PostgreSQL a visibility map for index-only scans.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")

    def body(n: int, ended: bool = True) -> bytes:
        return json.dumps({"taskId": TASK_ID, "records": [record(n, ended=ended)]}).encode()

    def timed(bodies: list[bytes], after: Any = None) -> list[float]:
        seconds = []
        for payload in bodies:
            started = time.perf_counter()
            with transaction.atomic():
                callbacks.receive(account, payload)
                if after:
                    after()
            seconds.append(time.perf_counter() - started)
        return seconds

    # Each way gets callbacks of the same kinds: new calls, and calls ending. Each way's calls
    # are its own, so none finds its record already written.
    ways: dict[str, list[float]] = {}
    plain_write = summaries.apply_changes

    def no_figures(*_args: Any, **_kwargs: Any) -> None:
        return None

    offset = args.calls
    for share, way in enumerate(("without figures", "ours", "naive")):
        new = [body(offset + n) for n in range(half)]
        offset += half
        # The calls in progress: ending them is the other half of the callbacks.
        seconds: list[float] = []
        if way == "without figures":
            summaries.apply_changes = no_figures  # type: ignore[assignment]
        try:
            after = (lambda: summaries.refresh_task_summary(task)) if way == "naive" else None
            seconds += timed(new, after)
            seconds += timed([body(in_progress + share * half + n) for n in range(half)], after)
        finally:
            summaries.apply_changes = plain_write  # type: ignore[assignment]
        ways[way] = seconds
    Path(args.result_file).write_text(json.dumps(ways))


def run_child(args: argparse.Namespace, label: str, database_url: str, tmp: str) -> dict:
    result_file = Path(tmp) / f"{label}.json"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bludash.settings",
        "DATABASE_URL": database_url,
        "BLUDASH_VAR_DIR": str(Path(tmp) / f"var-{label}"),
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-for-a-throwaway-database",
        "DJANGO_ALLOWED_HOSTS": "localhost",
        "BLUDASH_PUBLIC_URL": "https://localhost",
        "BLUDASH_FERNET_KEYS": FERNET_KEY,
        "BLUDASH_LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        label,
        "--result-file",
        str(result_file),
        "--calls",
        str(args.calls),
        "--callbacks",
        str(args.callbacks),
    ]
    subprocess.run(command, env=env, cwd=ROOT, check=True)
    return json.loads(result_file.read_text())


def fresh_postgres(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def ms(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run_child(args, "sqlite", f"sqlite:///{tmp}/bench.sqlite3", tmp)
        if args.postgres:
            fresh_postgres(args.postgres)
            results["postgresql"] = run_child(args, "postgresql", args.postgres, tmp)
    print(
        f"\n{args.callbacks} callbacks (new calls, calls ending) on a task of {args.calls:,} calls"
    )
    print(f"{'database':<11} {'way':<16} {'median ms':>10} {'p90 ms':>8}")
    for label, ways in results.items():
        for way, seconds in ways.items():
            print(f"{label:<11} {way:<16} {ms(seconds, 0.5):>10.2f} {ms(seconds, 0.9):>8.2f}")
        base = statistics.median(ways["without figures"])
        ours, naive = statistics.median(ways["ours"]), statistics.median(ways["naive"])
        print(
            f"{label:<11} keeping figures costs {1000 * (ours - base):.2f} ms a callback; "
            f"naive / ours = {naive / ours:.1f}x"
        )


if __name__ == "__main__":
    main()
