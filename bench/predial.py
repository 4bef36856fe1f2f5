"""How fast gunicorn answers Blu's pre-dial checks on PostgreSQL at a steady rate: the latency
Blu waits before each call, measured from when each check was due (an open loop: a slow answer
delays nothing after it, so the figures cannot hide a queue).

    .venv/bin/python bench/predial.py [--rate 200] [--seconds 30] [--borrowers 20000]
        [--clients 32] [--workers 2] [--threads 4]
        [--database-url postgres://postgres@127.0.0.1:5432/bludash_bench_predial] [--smoke]

The script makes the database fresh (**it is dropped and created again**), migrates it, stores
one call for each of --borrowers borrowers of one account through the write path every sync and
callback takes (so complaints, promises and claims of payment are made as in production: about
one borrower in three is on the stop list), then starts gunicorn with deploy/gunicorn.conf.py and
production settings (debug off, HTTPS behind a proxy, the shared cache in the Redis that
BLUDASH_CACHE_URL or REDIS_URL names: without one it refuses to run, as callbacks.py does).
--clients keep-alive connections send --rate checks a second for --seconds, each for a random
borrower (one in twenty unknown), and each answer is checked: 200, the cancel body for a borrower
on the stop list and the go-ahead for anyone else, and one recorded answer a check. It prints
p50/p95/p99 latency, the CPU per check of the workers, PostgreSQL and the client, with the load
average, and exits non-zero if a check fails.

--smoke: 2,000 borrowers, 40 checks a second for 3 seconds, one worker of two threads: what CI
runs. The database is the one --database-url names, by default `bludash_bench_predial` on the
server DATABASE_URL names, never DATABASE_URL's own database. Run by hand, never by tests;
bench/README.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _databases import bench_database_url, drop_database, ensure_database
from callbacks import (
    GUNICORN,
    HOST,
    BackendCPU,
    cpu_seconds,
    free_port,
    loadavg,
    ms,
    server_env,
    shared_cache_url,
    wait_until_answering,
    worker_pids,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE = "bludash_bench_predial"
# One call a borrower: these stop them (complaint, already paid, a promise not yet due)...
STOPPING = ["CPL", "AP", "PTP"]
# ...and these do not (a single wrong-person or dead-line call is under the default counts).
CALLABLE = ["NOST", "LMS", "Busy", "NotOneself", "D01", "D03"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200, help="checks a second")
    parser.add_argument("--seconds", type=float, default=30, help="timed seconds")
    parser.add_argument("--warmup", type=float, default=3, help="untimed seconds before")
    parser.add_argument("--borrowers", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--workers", type=int, default=2, help="BLUDASH_WEB_WORKERS")
    parser.add_argument("--threads", type=int, default=4, help="BLUDASH_WEB_THREADS")
    parser.add_argument("--database-url", help="a PostgreSQL URL whose database may be dropped")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seed-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.borrowers, args.rate, args.seconds, args.warmup = 2_000, 40, 3, 1
        args.clients, args.workers, args.threads = 4, 1, 2
    return args


def code_of(n: int) -> str:
    """Borrower n's one call's code: every third on the stop list."""
    if n % 3 == 0:
        return STOPPING[(n // 3) % len(STOPPING)]
    return CALLABLE[n % len(CALLABLE)]


def record(n: int) -> dict:
    # Calls in the recent past, so that a PTP's default window has not ended.
    at = time.gmtime(time.time() - 3600 - n % 3600)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", at)
    return {
        "taskId": "66547800",
        "callId": f"call-{n}",
        "userId": str(100_000 + n),
        "phone": "0159***0188",
        "name": f"Borrower {n}",
        "status": 2,
        "code": code_of(n),
        "startTime": stamp,
        "answerTime": stamp,
        "endTime": stamp,
        "duration": 30,
        "recordUrl": "",
        "extVars": json.dumps({"uniqueId": f"U{n}", "orderId": f"L{n:07d}"}),
    }


def seed_child(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from calls.ingest import page_writer, polling
    from calls.models import BluAccount

    call_command("migrate", verbosity=0)
    account = BluAccount(name="bench", base_url="https://blu.invalid", app_id="1", time_zone="UTC")
    account.predial_token = os.environ["BENCH_PREDIAL_TOKEN"]
    account.set_app_key("bench-app-key")
    account.save()
    task = polling.register_task(account, "66547800")[0]
    calls = [record(n) for n in range(args.borrowers)]
    for first in range(0, len(calls), 500):
        parsed, result = page_writer.read_page(calls[first : first + 500], account)
        page_writer.write_records(task, parsed, result)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def request_bytes(token: str, body: bytes) -> bytes:
    head = (
        f"POST /blu/predial/{token}/ HTTP/1.1\r\n"
        f"Host: {HOST}\r\n"
        "X-Forwarded-Proto: https\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def plan(args: argparse.Namespace, count: int, rng: random.Random) -> list[tuple[int, bytes]]:
    """(borrower n, or -1 for one nobody knows; the body) for each check."""
    checks = []
    for _ in range(count):
        n = -1 if rng.random() < 0.05 else rng.randrange(args.borrowers)
        key = f"U{n}" if n >= 0 else f"NOBODY-{rng.randrange(10**9)}"
        checks.append((n, json.dumps({"uniqueId": key, "phone": "0159***0188"}).encode()))
    return checks


async def _drive(port: int, token: str, checks, rate: float, clients: int):
    """Send each check at its due time (i / rate after the start) on the first free connection;
    returns (seconds from due to answered, status, body) per check, in order, and the seconds."""
    queue: asyncio.Queue = asyncio.Queue()
    results: list = [None] * len(checks)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                index, due, body = item
                writer.write(request_bytes(token, body))
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split(" ", 2)[1])
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in lines[1:] if line)
                }
                answer = await reader.readexactly(int(headers.get("content-length", "0")))
                results[index] = (time.perf_counter() - due, status, answer)
                if headers.get("connection", "").lower() == "close":
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(clients)]
    started = time.perf_counter()
    for index, (_, body) in enumerate(checks):
        due = started + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((index, due, body))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return results, time.perf_counter() - started


def drive(port, token, checks, rate, clients):
    return asyncio.run(_drive(port, token, checks, rate, clients))


def recorded(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT decision, decided, count(*) FROM calls_predialanswer GROUP BY 1, 2"
        ).fetchall()
    return {f"{decision}{'' if decided else ' (undecided)'}": n for decision, decided, n in rows}


def main() -> None:
    args = parse_args()
    if args.seed_child:
        seed_child(args)
        return
    cache = shared_cache_url()  # before anything is dropped
    url = bench_database_url(args.database_url, DEFAULT_DATABASE, "bench/predial.py")
    token = secrets.token_urlsafe(32)
    port = free_port()
    rng = random.Random(14)
    warm_checks = plan(args, int(args.rate * args.warmup), rng)
    timed_checks = plan(args, int(args.rate * args.seconds), rng)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-predial-") as var_dir:
        # The callback bench's server, with the pre-dial's rate limit above what is sent.
        server_args = argparse.Namespace(
            workers=args.workers, threads=args.threads, callbacks=0, warmup=0
        )
        env = server_env(server_args, url, var_dir, port, "unused", cache)
        total = len(warm_checks) + len(timed_checks)
        env["BLUDASH_PREDIAL_RATE_PER_MINUTE"] = str(10 * total + 600)
        env["BENCH_PREDIAL_TOKEN"] = token
        ensure_database(url, fresh=True)
        try:
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--seed-child",
                    f"--borrowers={args.borrowers}",
                ],
                env=env,
                cwd=ROOT,
                check=True,
            )
            print(f"Seeded {args.borrowers:,} borrowers in {time.perf_counter() - started:.1f} s")
            log = Path(var_dir) / "gunicorn.log"
            with log.open("w") as output:
                server = subprocess.Popen(
                    [str(GUNICORN), "-c", "deploy/gunicorn.conf.py"],
                    cwd=ROOT,
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            try:
                wait_until_answering(port, server, log)
                warm, _ = drive(port, token, warm_checks, args.rate, args.clients)
                load_before = loadavg()
                workers, backends = worker_pids(server.pid), BackendCPU(url)
                cpu_before = (cpu_seconds(workers), 0.0, time.process_time())
                answers, elapsed = drive(port, token, timed_checks, args.rate, args.clients)
                cpu_after = (cpu_seconds(workers), backends.stop(), time.process_time())
                load_after = loadavg()
            finally:
                server.terminate()
                server.wait(timeout=60)
            stored = recorded(url)
        finally:
            if not args.keep:
                drop_database(url)

    # Every answer right: cancel for a borrower on the stop list, the go-ahead otherwise.
    wrong: dict[str, int] = {}
    for (n, _), (_, status, body) in zip(warm_checks + timed_checks, warm + answers, strict=True):
        stopped = n >= 0 and code_of(n) in STOPPING
        want = 0 if stopped else 1  # the default bodies' codes
        got = json.loads(body).get("code") if status == 200 else None
        if status != 200 or got != want:
            key = f"{status} {body[:60]!r} for {'stopped' if stopped else 'callable'}"
            wrong[key] = wrong.get(key, 0) + 1
    if wrong:
        failures.append(f"wrong answers: {wrong}")
    if sum(stored.values()) != total:
        failures.append(f"answers recorded: {sum(stored.values()):,}, expected {total:,}")

    seconds = [seconds for seconds, _, _ in answers]
    achieved = len(answers) / elapsed
    print(
        f"\ngunicorn: {args.workers} workers x {args.threads} threads; {args.clients} "
        f"connections (one asyncio client on the same machine); PostgreSQL; "
        f"{args.borrowers:,} borrowers, one call each"
    )
    print(
        f"{len(answers):,} timed checks at {args.rate:g}/s (sent at {achieved:,.0f}/s) after "
        f"{len(warm):,} untimed; latency from each check's due time"
    )
    print(f"load average before {load_before}, after {load_after}")
    for label, q in (("p50 ms", 0.5), ("p95 ms", 0.95), ("p99 ms", 0.99), ("max ms", 1.0)):
        print(f"{label:<14}{ms(seconds, q):>10.1f}")
    print("\nCPU ms a check (user + system, from /proc):")
    labels = ("gunicorn workers", "PostgreSQL backends", "the client")
    for label, before_s, after_s in zip(labels, cpu_before, cpu_after, strict=True):
        print(f"  {label:<22}{1000 * (after_s - before_s) / len(answers):>8.2f}")
    print(f"\nanswers recorded: {stored}")
    if not args.smoke:
        met = ms(seconds, 0.99) < 50
        print(f"aim: p99 under 50 ms at {args.rate:g}/s: {'met' if met else 'missed'}")
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
