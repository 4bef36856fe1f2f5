"""How fast a Blu task syncs, how much memory that takes, and what a sync with nothing new costs.

    .venv/bin/python bench/sync.py [--calls 100000] [--naive-calls 10000]
        [--postgres postgres://postgres@127.0.0.1:5432/bludash_bench] [--sqlite-only] [--smoke]

Against the Blu sandbox over real HTTP, answering each page after 50 ms as a remote API would,
it measures records per second for
  - download only: `client.iter_pages` consumed fully (the floor any sync stands on);
  - ours: `calls.ingest.sync.sync_task`, which prefetches the next page while writing this one;
  - naive: one `update_or_create` per record of each page (on --naive-calls records, a separate
    task: it is a per-record rate and a slow one);
the time and rows written of a second sync in which nothing changed, and the tracemalloc peak of
syncing a fresh 10,000-call task and a fresh --calls task. It prints the ratios and the aims, and
what one page costs each side of the prefetch: its download, and our `read_page` and
`write_records` timed apart on pages downloaded beforehand (a separate task).

The sandbox runs in this process, so its rendering of pages never takes the GIL from the sync;
it still shares the machine's cores with the sync, as a remote Blu would not. So before each timed
download (the main task's, then the naive loop's) the child downloads that task once, untimed:
the sandbox keeps the JSON of every final record it renders, and the timed passes then measure the
page delay plus our side, not the sandbox's first rendering of each record (about 100 µs a record).
Each database is measured in a child process of its own (Django reads its settings once per
process) against a fresh database: SQLite in a temporary file, PostgreSQL dropped and created
again. The children run with DJANGO_DEBUG off, as production does: with debug on Django keeps the
SQL of every query in memory. --smoke: every measurement at a few hundred calls, in pages of 50
answered after 5 ms, on SQLite only, so CI keeps the script running; it exits non-zero if a
no-change re-sync writes rows (and, as every run does, if a sync stores other than what the sandbox
served). Run by hand, never by tests; bench/README.md has the figures.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

APP_ID = "10001"
APP_KEY = "bench-app-key"  # a sandbox key, not a secret of anything real
ZONE = "Asia/Colombo"
PACE_SECONDS = 1.0  # one call started per second; the tasks start far enough back to be over
MEMORY_SMALL_CALLS = 10_000
OFFLINE_CALLS = 20_000  # 40 pages: enough for a steady per-page figure
# --smoke: every task several pages long, so the prefetch and the per-page figures still run, and
# the whole run takes seconds. Its figures say nothing about speed.
SMOKE = {
    "calls": 400,
    "naive_calls": 100,
    "memory_small_calls": 100,
    "offline_calls": 200,
    "page_size": 50,
    "page_delay": 0.005,
}
# The children's settings need a Fernet key with debug off; this one guards only the sandbox key.
FERNET_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"bludash bench").digest()).decode()
AIMS = {
    "vs_naive": 20.0,  # ours at least 20x the naive loop
    "vs_download": 0.9,  # ours at least 0.9 of the download-only rate (issue 12)
    "memory_ratio": 1.5,  # peak at --calls over peak at 10,000 calls: flat, not 10x
}
# Blu task ids in the sandbox, by what they are used for.
TASK_IDS = {
    "main": "66547748",  # download only, ours, and the no-change re-sync
    "naive": "66547749",
    "memory_small": "66547750",
    "memory_large": "66547751",
    "offline": "66547752",  # our parse and write per page, timed on pages already downloaded
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls in the main task")
    parser.add_argument(
        "--naive-calls", type=int, default=10_000, help="calls in the task of the naive loop"
    )
    parser.add_argument(
        "--postgres",
        default="postgres://postgres@127.0.0.1:5432/bludash_bench",
        help="PostgreSQL URL; the database it names is dropped and created again",
    )
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--page-size", type=int, default=500, help="asked for and served")
    parser.add_argument("--page-delay", type=float, default=0.05, help="seconds per page")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"{SMOKE['calls']} calls on SQLite only, in seconds: what CI runs (sizes ignored)",
    )
    # Internal: one database's measurements, run in a child process.
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--sandbox-url", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.memory_small_calls, args.offline_calls = MEMORY_SMALL_CALLS, OFFLINE_CALLS
    if args.smoke:
        vars(args).update(SMOKE, sqlite_only=True)
    return args


def task_sizes(args: argparse.Namespace) -> dict[str, int]:
    return {
        "main": args.calls,
        "naive": args.naive_calls,
        "memory_small": args.memory_small_calls,
        "memory_large": args.calls,
        "offline": args.offline_calls,
    }


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the parent: the sandbox, one child per database, the report --------------------------------


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return
    from calls.blu.sandbox import Sandbox

    sizes = task_sizes(args)
    results: dict[str, dict[str, Any]] = {}
    # tick_seconds: no account has a callback URL, so the dispatcher has nothing to do.
    with Sandbox(
        max_page_size=args.page_size, page_delay=args.page_delay, tick_seconds=60
    ) as sandbox:
        sandbox.add_account(app_id=APP_ID, app_key=APP_KEY, time_zone=ZONE)
        # Every call has started and ended (the longest lasts minutes) and is inside 45 days.
        started_at = sandbox.now() - timedelta(seconds=max(sizes.values()) * PACE_SECONDS + 3600)
        for role, task_id in TASK_IDS.items():
            sandbox.add_task(
                app_id=APP_ID,
                task_id=task_id,
                calls=sizes[role],
                started_at=started_at,
                pace_seconds=PACE_SECONDS,
            )
        assert sandbox.url is not None
        with tempfile.TemporaryDirectory(prefix="bludash-bench-") as tmp:
            results["SQLite"] = run_child(
                args, "SQLite", f"sqlite:///{tmp}/bench.sqlite3", tmp, sandbox.url
            )
            if not args.sqlite_only:
                fresh_postgres(args.postgres)
                results["PostgreSQL"] = run_child(
                    args, "PostgreSQL", args.postgres, tmp, sandbox.url
                )
    report(args, results)
    if args.smoke:
        smoke_verdict(results)


def smoke_verdict(results: dict[str, dict[str, Any]]) -> None:
    """At smoke sizes the rates and the memory ratio mean nothing, but a no-change re-sync that
    writes rows is wrong at any size: CI fails on it."""
    for label, result in results.items():
        resync = result["resync"]
        written = resync["created"] + resync["changed"]
        check(
            written == 0 and resync["rows_touched"] == 0,
            f"{label}: a re-sync with nothing new wrote rows ({written} created or changed, "
            f"{resync['rows_touched']} with a new last_changed_at)",
        )
    say("smoke: every measurement ran, every record stored, and a no-change re-sync wrote nothing")


def fresh_postgres(url: str) -> None:
    """Drop and create the database the URL names, through the server's `postgres` database."""
    import dj_database_url
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    config = dj_database_url.parse(url)
    name = config["NAME"]
    params: dict[str, Any] = {
        "host": config["HOST"] or None,
        "port": config["PORT"] or None,
        "user": config["USER"] or None,
        "password": config["PASSWORD"] or None,
        "dbname": "postgres",
    }
    conninfo = make_conninfo(**{k: v for k, v in params.items() if v})
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def run_child(
    args: argparse.Namespace, label: str, database_url: str, tmp: str, sandbox_url: str
) -> dict[str, Any]:
    say(f"\n== {label} ==")
    result_file = Path(tmp) / f"{label}.json"
    var_dir = Path(tmp) / f"var-{label}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bludash.settings",
        "DATABASE_URL": database_url,
        "BLUDASH_VAR_DIR": str(var_dir),
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-for-a-throwaway-database",
        "BLUDASH_FERNET_KEYS": FERNET_KEY,
        "DJANGO_ALLOWED_HOSTS": "localhost",
        "BLUDASH_PUBLIC_URL": "https://localhost",
        "BLUDASH_PAGE_SIZE": str(args.page_size),
        "BLUDASH_LOG_LEVEL": "WARNING",
    }
    # Nothing is queued (the filesystem broker under var/ is enough), and the cache is files there
    # too: never a Redis database the environment names (CI's tests use theirs afterwards).
    for name in ("REDIS_URL", "BLUDASH_CACHE_URL"):
        env.pop(name, None)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        label,
        "--sandbox-url",
        sandbox_url,
        "--result-file",
        str(result_file),
        "--calls",
        str(args.calls),
        "--naive-calls",
        str(args.naive_calls),
        *(["--smoke"] if args.smoke else []),
    ]
    # The child states what went wrong (check() below); the parent only refuses to go on.
    check(subprocess.run(command, env=env, cwd=ROOT).returncode == 0, f"the {label} run failed")
    return json.loads(result_file.read_text())


def rate(part: dict[str, Any]) -> float:
    return part["records"] / part["seconds"]


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    labels = list(results)
    mib = 1024 * 1024
    rows: list[tuple[str, list[str]]] = []
    aims: list[tuple[str, list[bool]]] = []

    def each(fn: Any) -> list[Any]:
        return [fn(results[label]) for label in labels]

    def row(name: str, values: list[Any], fmt: str) -> None:
        rows.append((name, [format(value, fmt) for value in values]))

    vs_naive = each(lambda r: rate(r["ours"]) / rate(r["naive"]))
    vs_download = each(lambda r: rate(r["ours"]) / rate(r["download"]))
    written = each(lambda r: r["resync"]["created"] + r["resync"]["changed"])
    touched = each(lambda r: r["resync"]["rows_touched"])
    small = each(lambda r: r["memory"]["small"]["peak"] / mib)
    large = each(lambda r: r["memory"]["large"]["peak"] / mib)
    memory_ratio = [b / a for a, b in zip(small, large, strict=True)]

    row("download only, records/s", each(lambda r: rate(r["download"])), ",.0f")
    row("ours (sync_task), records/s", each(lambda r: rate(r["ours"])), ",.0f")
    row(
        f"naive update_or_create, records/s ({args.naive_calls:,} calls)",
        each(lambda r: rate(r["naive"])),
        ",.0f",
    )
    row("ours / naive", vs_naive, ".1f")
    row("ours / download only", vs_download, ".2f")
    row("download only, s", each(lambda r: r["download"]["seconds"]), ".1f")
    row("ours, s", each(lambda r: r["ours"]["seconds"]), ".1f")
    row("no-change re-sync, s", each(lambda r: r["resync"]["seconds"]), ".1f")
    row("no-change re-sync, created + changed", written, "d")
    row("no-change re-sync, rows with a new last_changed_at", touched, "d")
    row(f"peak memory, {args.memory_small_calls:,} calls, MiB", small, ".1f")
    row(f"peak memory, {args.calls:,} calls, MiB", large, ".1f")
    row("peak memory ratio", memory_ratio, ".2f")
    # Why ours is where it is: what one page costs each side of the prefetch.
    row("per page: download only, ms", each(lambda r: per_page(r["download"], "seconds")), ".0f")
    row("per page: ours, ms", each(lambda r: per_page(r["ours"], "seconds")), ".0f")
    row("per page: read_page alone, ms", each(lambda r: per_page(r["offline"], "parse")), ".0f")
    row("per page: write_records alone, ms", each(lambda r: per_page(r["offline"], "write")), ".0f")
    # CPU a page of "ours": the sync's own thread (parse and write), the whole process (with the
    # prefetch thread's HTTP and JSON decoding), and the database server's process serving it.
    row(
        "per page: ours, sync thread CPU, ms",
        each(lambda r: per_page(r["ours"], "thread_cpu")),
        ".0f",
    )
    row(
        "per page: ours, process CPU, ms", each(lambda r: per_page(r["ours"], "process_cpu")), ".0f"
    )
    rows.append(
        (
            "per page: ours, PostgreSQL server CPU, ms",
            each(
                lambda r: (
                    "-"
                    if r["ours"]["backend_cpu"] is None
                    else format(per_page(r["ours"], "backend_cpu"), ".0f")
                )
            ),
        )
    )
    rows.append(
        (
            "load average (1 min) before / after ours",
            each(lambda r: "{:.1f} / {:.1f}".format(*r["ours"]["load"])),
        )
    )

    aims.append(
        (f"ours >= {AIMS['vs_naive']:.0f}x naive", [x >= AIMS["vs_naive"] for x in vs_naive])
    )
    aims.append(
        (
            f"ours >= {AIMS['vs_download']} of download only",
            [x >= AIMS["vs_download"] for x in vs_download],
        )
    )
    aims.append(
        (
            "no-change re-sync writes no rows",
            [w == 0 and t == 0 for w, t in zip(written, touched, strict=True)],
        )
    )
    aims.append(
        (
            f"peak memory flat (ratio <= {AIMS['memory_ratio']})",
            [x <= AIMS["memory_ratio"] for x in memory_ratio],
        )
    )

    pages = -(-args.calls // args.page_size)
    machine = next(iter(results.values()))["machine"]
    versions = ", ".join(f"{label} {results[label]['db_version']}" for label in labels)
    print()
    print("Sync benchmark against the Blu sandbox over HTTP")
    if args.smoke:
        print("  --smoke: sizes that only prove the script runs; its rates and aims mean nothing.")
    print(
        f"  Main task: {args.calls:,} calls in pages of {args.page_size} (asked for and served), "
        f"each answered after {args.page_delay * 1000:.0f} ms: {pages} pages, "
        f"{pages * args.page_delay:.1f} s of waiting at least."
    )
    print(
        f"  Naive loop: a separate task of {args.naive_calls:,} calls (a per-record rate). Peak "
        "memory: tracemalloc (Python allocations) over the first sync of a fresh task."
    )
    warm = ", ".join(f"{label} {rate(results[label]['warm_main']):,.0f}/s" for label in labels)
    print(
        "  Before timing, the sandbox was warmed by one untimed full download of the main task "
        "(and of the naive loop's task), so the timed figures measure the page delay plus our "
        f"side, not the sandbox's first rendering of each record. Warm-up download: {warm}."
    )
    print(
        f"  Machine: nproc {machine['nproc']}, {machine['cpu']}, Python {machine['python']}, "
        f"{versions}; {machine['date']}."
    )
    print()
    width = max(len(name) for name, _ in rows + aims) + 6
    print("".ljust(width) + "".join(label.rjust(12) for label in labels))
    for name, values in rows:
        print(name.ljust(width) + "".join(value.rjust(12) for value in values))
    print()
    for name, oks in aims:
        verdicts = "".join(("met" if ok else "MISSED").rjust(12) for ok in oks)
        print(f"aim: {name}".ljust(width) + verdicts)


def per_page(part: dict[str, Any], key: str) -> float:
    return part[key] / part["pages"] * 1000


# --- the child: one database ----------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from calls.models import BluAccount, Task

    label = args.child
    call_command("migrate", verbosity=0)
    account = BluAccount(name="bench", base_url=args.sandbox_url, app_id=APP_ID, time_zone=ZONE)
    account.set_app_key(APP_KEY)
    account.save()
    tasks = {
        role: Task.objects.create(account=account, blu_task_id=task_id, name=f"bench {role}")
        for role, task_id in TASK_IDS.items()
    }
    sizes = task_sizes(args)

    result: dict[str, Any] = {"db": label, "db_version": db_version(connection)}
    result["warm_main"] = warm_sandbox(account, tasks["main"], sizes["main"])
    say(f"[{label}] sandbox warmed, untimed: main task {summary(result['warm_main'])}")
    result["download"] = measure_download(account, tasks["main"], sizes["main"])
    say(f"[{label}] download only: {summary(result['download'])}")
    result["ours"] = measure_sync(tasks["main"], sizes["main"])
    say(f"[{label}] ours (sync_task): {summary(result['ours'])}")
    result["resync"] = measure_resync(tasks["main"])
    say(f"[{label}] no-change re-sync: {result['resync']}")
    result["warm_naive"] = warm_sandbox(account, tasks["naive"], sizes["naive"])
    say(f"[{label}] sandbox warmed, untimed: naive task {summary(result['warm_naive'])}")
    result["naive"] = measure_naive(account, tasks["naive"], sizes["naive"])
    say(f"[{label}] naive update_or_create: {summary(result['naive'])}")
    result["offline"] = measure_offline(account, tasks["offline"], sizes["offline"])
    say(f"[{label}] parse and write alone: {result['offline']}")
    result["memory"] = {
        "small": measure_memory(tasks["memory_small"], sizes["memory_small"]),
        "large": measure_memory(tasks["memory_large"], sizes["memory_large"]),
    }
    say(f"[{label}] peak memory: {result['memory']}")
    result["machine"] = {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    Path(args.result_file).write_text(json.dumps(result))


def db_version(connection: Any) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT sqlite_version()")
        else:
            cursor.execute("SHOW server_version")
        return str(cursor.fetchone()[0]).split(" ")[0]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def summary(part: dict[str, Any]) -> str:
    return f"{part['records']:,} records in {part['seconds']:.2f} s = {rate(part):,.0f}/s"


def check(condition: bool, message: str) -> None:
    """Figures from a run that did not do the whole job would mislead: stop instead."""
    if not condition:
        raise SystemExit(f"bench/sync.py: {message}")


def warm_sandbox(account: Any, task: Any, calls: int) -> dict[str, Any]:
    """One full download of the task before it is timed, so that the sandbox has rendered every
    record once: it keeps their JSON, and the timed passes then cost it a lookup a record, as a
    remote Blu would cost this machine nothing. The figure is printed, never used."""
    return measure_download(account, task, calls)


def measure_download(account: Any, task: Any, calls: int) -> dict[str, Any]:
    from calls.blu import client

    creds = account.credentials()
    records = pages = 0
    begin = time.perf_counter()
    for page in client.iter_pages(creds, task.blu_task_id):
        records += len(page)
        pages += 1
    seconds = time.perf_counter() - begin
    check(records == calls, f"downloaded {records} records, expected {calls}")
    return {"records": records, "seconds": seconds, "pages": pages}


def measure_sync(task: Any, calls: int) -> dict[str, Any]:
    """The sync's rate, and its CPU: the wall clock on a shared machine says as much about the
    other work on it as about ours, CPU time much less."""
    from calls.ingest.sync import sync_task
    from calls.models import CallRecord, SyncRun

    load_before = os.getloadavg()[0]
    backend = backend_cpu_seconds()
    thread, process = time.thread_time(), time.process_time()
    begin = time.perf_counter()
    run = sync_task(task)
    seconds = time.perf_counter() - begin
    thread, process = time.thread_time() - thread, time.process_time() - process
    backend_after = backend_cpu_seconds()
    server = None if backend is None or backend_after is None else backend_after - backend
    check(run.outcome == SyncRun.Outcome.OK, f"the sync failed: {run.error}")
    check(run.created == calls, f"the sync created {run.created} records, expected {calls}")
    stored = CallRecord.objects.filter(task=task).count()
    check(stored == calls, f"{stored} records stored, expected {calls}")
    return {
        "records": calls,
        "seconds": seconds,
        "pages": run.pages,
        "thread_cpu": thread,
        "process_cpu": process,
        "backend_cpu": server,
        "load": [load_before, os.getloadavg()[0]],
    }


def backend_cpu_seconds() -> float | None:
    """CPU time the PostgreSQL server process serving this connection has used, read from /proc
    (a server on this machine only); None for SQLite (its work is this process's) or elsewhere."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        # utime and stime, fields 14 and 15 of stat, counted after the command's name
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_resync(task: Any) -> dict[str, Any]:
    from django.utils import timezone

    from calls.ingest.sync import sync_task
    from calls.models import CallRecord, SyncRun

    before = timezone.now()
    begin = time.perf_counter()
    run = sync_task(task)
    seconds = time.perf_counter() - begin
    check(run.outcome == SyncRun.Outcome.OK, f"the re-sync failed: {run.error}")
    # Counted from the rows too, not only from what the sync says it did.
    touched = CallRecord.objects.filter(task=task, last_changed_at__gte=before).count()
    return {
        "seconds": round(seconds, 3),
        "created": run.created,
        "changed": run.changed,
        "unchanged": run.unchanged,
        "rows_touched": touched,
    }


def measure_naive(account: Any, task: Any, calls: int) -> dict[str, Any]:
    """What a first attempt would write: one update_or_create per record, pages fetched in turn."""
    from calls.blu import client
    from calls.blu.records import UnstorableRecord, read_record
    from calls.models import CallRecord

    creds = account.credentials()
    zone = account.zone
    records = 0
    begin = time.perf_counter()
    for page in client.iter_pages(creds, task.blu_task_id):
        for raw in page:
            try:
                fields = read_record(raw, zone)
            except UnstorableRecord:
                continue
            call_id = fields.pop("call_id")
            fields.pop("raw_json", None)  # raw pre-serialised for upsert.py; the ORM does its own
            CallRecord.objects.update_or_create(
                account=account, call_id=call_id, defaults={**fields, "task": task}
            )
            records += 1
    seconds = time.perf_counter() - begin
    check(records == calls, f"the naive loop wrote {records} records, expected {calls}")
    return {"records": records, "seconds": seconds}


def measure_offline(account: Any, task: Any, calls: int) -> dict[str, Any]:
    """The database side of a sync alone: `read_page` and `write_records` per page, timed apart,
    on pages downloaded beforehand. If their sum exceeds a page's download, no prefetching can
    hide it."""
    from calls.blu import client
    from calls.ingest.page_writer import read_page, write_records

    pages = list(client.iter_pages(account.credentials(), task.blu_task_id))
    parse = write = 0.0
    for page in pages:
        begin = time.perf_counter()
        parsed, result = read_page(page, account)
        middle = time.perf_counter()
        write_records(task, parsed, result)
        parse += middle - begin
        write += time.perf_counter() - middle
        check(result.created == len(page), "a page of new records was not all created")
    records = sum(len(page) for page in pages)
    check(records == calls, f"{records} records downloaded, expected {calls}")
    return {"records": records, "pages": len(pages), "parse": parse, "write": write}


def measure_memory(task: Any, calls: int) -> dict[str, Any]:
    """tracemalloc's peak over a first sync of a fresh task: what the sync holds at its fullest."""
    from calls.ingest.sync import sync_task
    from calls.models import SyncRun

    tracemalloc.start()
    try:
        run = sync_task(task)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    check(run.outcome == SyncRun.Outcome.OK, f"the sync failed: {run.error}")
    check(run.created == calls, f"the sync created {run.created} records, expected {calls}")
    return {"calls": calls, "peak": peak}


if __name__ == "__main__":
    main()
