"""How many callbacks a second gunicorn answers on PostgreSQL, and how fast, with every record
stored once: concurrent clients over HTTP, as Blu delivers them.

    .venv/bin/python bench/callbacks.py [--callbacks 12000] [--clients 16] [--workers 2]
        [--threads 4] [--calls 20000] [--tasks 4]
        [--database-url postgres://postgres@127.0.0.1:5432/bludash_bench_callbacks] [--smoke]

The script makes the database fresh (**it is dropped and created again**), migrates it, stores
--calls calls over --tasks tasks of one account (a share of them still in progress), then starts
gunicorn with deploy/gunicorn.conf.py and production settings (debug off, HTTPS only behind a
proxy: every request says `X-Forwarded-Proto: https`, as nginx does) and the shared cache in
Redis (BLUDASH_CACHE_URL, else REDIS_URL: without either it refuses to run). --clients
keep-alive connections (one asyncio client in this process, sharing the machine's cores with
gunicorn and PostgreSQL) post --callbacks callbacks, one record each, as fast as they
are answered: new calls, ends of calls in progress, and repeats of bodies sent before (Blu's
retries). Afterwards every answer must have been a 200 "success", the answers' created and
changed counts must add up to the distinct records, and the database must hold exactly the
distinct records, with the tasks' figures counting them. It prints the rate, p50/p95/p99 latency
and those checks, and exits non-zero if a check fails.

The callback rate limit (BLUDASH_CALLBACK_RATE_PER_MINUTE, 600 a minute per account by default)
is raised above what the run sends: it still counts every request in Redis, and refuses none.

--smoke: 300 calls, 220 callbacks, 4 clients, one worker of two threads: what CI runs. The
database is the one --database-url names, by default `bludash_bench_callbacks` on the server
DATABASE_URL names (CI's, or 127.0.0.1:5432), never DATABASE_URL's own database. Run by hand,
never by tests; bench/README.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _databases import bench_database_url, drop_database, ensure_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FERNET_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"bludash bench").digest()).decode()
CODES = ["PTP", "HPTP", "AP", "NOST", "LMS", "Busy", "NotOneself", "D01", "D02", "D03", "CPL"]
HOST = "bludash.example.com"
DEFAULT_DATABASE = "bludash_bench_callbacks"
GUNICORN = Path(sys.executable).with_name("gunicorn")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callbacks", type=int, default=12_000, help="timed callbacks")
    parser.add_argument("--warmup", type=int, default=400, help="callbacks before the timing")
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=2, help="BLUDASH_WEB_WORKERS")
    parser.add_argument("--threads", type=int, default=4, help="BLUDASH_WEB_THREADS")
    parser.add_argument("--calls", type=int, default=20_000, help="calls stored before")
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--repeats", type=float, default=0.25, help="share of repeated bodies")
    parser.add_argument("--ends", type=float, default=0.2, help="share ending a stored call")
    parser.add_argument("--database-url", help="a PostgreSQL URL whose database may be dropped")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--profile", help="py-spy: record a worker into this SVG meanwhile")
    parser.add_argument(
        "--floor",
        choices=["healthz", "refused"],
        help="send the timed requests elsewhere, to measure what HTTP and Django cost alone: "
        "healthz (GET /healthz/, answered by the first middleware), refused (each body without "
        "records: every middleware, the token check, the rate limit and the parsing, no write)",
    )
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seed-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.calls, args.tasks, args.callbacks, args.warmup = 300, 2, 200, 20
        args.clients, args.workers, args.threads = 4, 1, 2
    return args


def task_id(n: int) -> str:
    return str(66_547_700 + n)


def record(n: int, task: str, *, ended: bool = True) -> dict[str, Any]:
    day = n % 28 + 1
    hour, minute = 9 + n % 10, n % 60
    return {
        "taskId": task,
        "callId": f"call-{n}",
        "jobId": 890_000_000 + n,
        "userId": str(100_000 + n),
        "phone": "0159***0188",
        "name": f"Borrower {n}",
        "status": 2,
        "code": CODES[n % len(CODES)] if ended else "",
        "desc": "",
        "startTime": f"2026-11-{day:02d} {hour:02d}:{minute:02d}:00",
        "answerTime": f"2026-11-{day:02d} {hour:02d}:{minute:02d}:10",
        "endTime": f"2026-11-{day:02d} {hour:02d}:{minute:02d}:50" if ended else "",
        "duration": 40 + n % 200 if ended else None,
        "recordUrl": "",
        "extVars": json.dumps({"uniqueId": f"U{n}", "loanId": f"L{n:07d}"}),
    }


def open_calls(args: argparse.Namespace) -> int:
    """How many of the stored calls are still in progress: the last ones, enough to end."""
    return min(args.calls, int(args.ends * (args.callbacks + args.warmup)) + 10)


# --- the seed, in a child process with the server's settings ------------------------------------


def seed_child(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from calls.ingest import page_writer, polling
    from calls.models import BluAccount

    call_command("migrate", verbosity=0)
    account = BluAccount(name="bench", base_url="https://blu.invalid", app_id="1")
    account.callback_token = os.environ["BENCH_CALLBACK_TOKEN"]
    account.set_app_key("bench-app-key")
    account.save()
    tasks = [polling.register_task(account, task_id(t))[0] for t in range(args.tasks)]
    first_open = args.calls - open_calls(args)
    for t, task in enumerate(tasks):
        calls = [
            record(n, task_id(t), ended=n < first_open) for n in range(t, args.calls, args.tasks)
        ]
        for first in range(0, len(calls), 500):
            parsed, result = page_writer.read_page(calls[first : first + 500], account)
            page_writer.write_records(task, parsed, result)
    # As autovacuum and the sync's own ANALYZE leave a production table.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


# --- what is sent -------------------------------------------------------------------------------


@dataclass
class Plan:
    bodies: list[bytes]  # in sending order: the warm-up first
    new: int  # distinct calls the callbacks bring that were not stored
    ends: int  # stored calls in progress that a callback ends
    repeats: int


def plan(args: argparse.Namespace) -> Plan:
    """Each callback one record: a new final call, the end of a stored call in progress, or a
    body sent before, sent again (after its first sending, as Blu retries)."""
    rng = random.Random(12)
    total = args.warmup + args.callbacks
    first_open = args.calls - open_calls(args)
    ends_left = list(range(first_open, args.calls))
    bodies: list[bytes] = []
    new = ends = repeats = 0
    next_call = args.calls
    for _ in range(total):
        draw = rng.random()
        if bodies and draw < args.repeats:
            bodies.append(rng.choice(bodies[-2000:]))
            repeats += 1
            continue
        if ends_left and draw < args.repeats + args.ends:
            n = ends_left.pop()
            ends += 1
        else:
            n = next_call
            next_call += 1
            new += 1
        task = task_id(n % args.tasks)
        payload = {"taskId": task, "records": [record(n, task)]}
        bodies.append(json.dumps(payload).encode())
    return Plan(bodies, new, ends, repeats)


# --- the client ---------------------------------------------------------------------------------


@dataclass
class Answers:
    seconds: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    reconnects: int = 0


def floor_request_bytes(kind: str, token: str) -> bytes:
    """A request of the floor: what the same client and server cost without storing a record."""
    if kind == "healthz":
        return f"GET /healthz/ HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    return request_bytes(token, b'{"taskId": "1"}')  # answered 400: records is missing


def request_bytes(token: str, body: bytes) -> bytes:
    head = (
        f"POST /blu/callback/{token}/ HTTP/1.1\r\n"
        f"Host: {HOST}\r\n"
        "X-Forwarded-Proto: https\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
        body += await reader.readexactly(size + 2)
    await reader.readuntil(b"\r\n")
    return body


async def _client(port: int, queue: list[bytes], answers: Answers) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while queue:
            request = queue.pop()
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines[1:] if line)
            }
            if headers.get("transfer-encoding", "").lower() == "chunked":
                body = await _chunked(reader)  # /healthz/ answers before CommonMiddleware
            else:
                body = await reader.readexactly(int(headers.get("content-length", "0")))
            answers.seconds.append(time.perf_counter() - started)
            answers.statuses.append(status)
            answers.bodies.append(body)
            if headers.get("connection", "").lower() == "close":
                writer.close()
                answers.reconnects += 1
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def _drive(port: int, requests: list[bytes], clients: int) -> tuple[Answers, float]:
    queue = list(reversed(requests))  # pop() takes them in order
    answers = Answers()
    started = time.perf_counter()
    await asyncio.gather(*(_client(port, queue, answers) for _ in range(clients)))
    return answers, time.perf_counter() - started


def drive(port: int, requests: list[bytes], clients: int) -> tuple[Answers, float]:
    return asyncio.run(_drive(port, requests, clients))


# --- the servers --------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


NO_REDIS = (
    "bench/{script} needs Redis: set BLUDASH_CACHE_URL (or REDIS_URL) to a redis:// URL, "
    "as production shares the callbacks' rate limit and counters there"
)


def shared_cache_url() -> str:
    """The Redis the server counts callbacks in: BLUDASH_CACHE_URL, else REDIS_URL. Without one
    the settings fall back to a file cache, whose locking and counting cost nothing like
    production's, so the figures would mean nothing: refused before anything is dropped."""
    cache = os.environ.get("BLUDASH_CACHE_URL") or os.environ.get("REDIS_URL") or ""
    if not cache.startswith(("redis://", "rediss://", "unix://")):
        raise SystemExit(NO_REDIS.format(script=Path(sys.argv[0]).name))
    return cache


def server_env(
    args: argparse.Namespace, url: str, var_dir: str, port: int, token: str, cache: str
) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BLUDASH_"))}
    env.pop("REDIS_URL", None)  # no broker is needed: every task is known, no sync is queued
    env["BLUDASH_CACHE_URL"] = cache
    env.update(
        DJANGO_SETTINGS_MODULE="bludash.settings",
        DATABASE_URL=url,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-only-secret-key-for-a-throwaway-database-" + "x" * 20,
        BLUDASH_FERNET_KEYS=FERNET_KEY,
        DJANGO_ALLOWED_HOSTS=HOST,
        BLUDASH_PUBLIC_URL=f"https://{HOST}",
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        BLUDASH_VAR_DIR=var_dir,
        BLUDASH_WEB_BIND=f"127.0.0.1:{port}",
        BLUDASH_WEB_WORKERS=str(args.workers),
        BLUDASH_WEB_THREADS=str(args.threads),
        # Counted in the cache on every request as in production, never refused here.
        BLUDASH_CALLBACK_RATE_PER_MINUTE=str(10 * (args.callbacks + args.warmup) + 600),
        BENCH_CALLBACK_TOKEN=token,
    )
    return env


def wait_until_answering(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("gunicorn stopped:\n" + log.read_text()[-3000:])
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 60 s:\n" + log.read_text()[-3000:])


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU the processes have used so far (those gone count nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def backend_pids(url: str) -> list[int]:
    """The PostgreSQL server processes serving the bench's database (the server is local)."""
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return [row[0] for row in rows]


class BackendCPU:
    """CPU used by the database's server processes over a stretch of time: they come and go
    (CONN_MAX_AGE), so each is read every half second and its last reading kept."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.first = {pid: cpu_seconds([pid]) for pid in backend_pids(url)}
        self.last = dict(self.first)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.done.wait(0.5):
            self._read()

    def _read(self) -> None:
        for pid in backend_pids(self.url):
            self.last[pid] = cpu_seconds([pid])

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        self._read()
        return sum(seconds - self.first.get(pid, 0.0) for pid, seconds in self.last.items())


def worker_pids(master: int) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-P", str(master)], capture_output=True, text=True, check=False
    )
    return [int(pid) for pid in found.stdout.split()]


# --- the checks ---------------------------------------------------------------------------------


def stored(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE end_time IS NULL AND code = ''), "
            "count(DISTINCT (account_id, call_id)) FROM calls_callrecord"
        ).fetchone()
        figures = conn.execute(
            "SELECT coalesce(sum(calls_total), 0), coalesce(sum(calls_final), 0) FROM calls_task"
        ).fetchone()
        days = conn.execute("SELECT coalesce(sum(calls), 0) FROM calls_taskdaysummary").fetchone()
    assert row and figures and days
    return {
        "rows": row[0],
        "open": row[1],
        "distinct": row[2],
        "calls_total": int(figures[0]),
        "calls_final": int(figures[1]),
        "day_rows_calls": int(days[0]),
    }


def ms(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_rate(answers: Answers, elapsed: float, cpu_before, cpu_after, count: int) -> float:
    rate = count / elapsed
    print(f"\n{'callbacks/s':<14}{rate:>10,.0f}")
    for label, q in (("p50 ms", 0.5), ("p95 ms", 0.95), ("p99 ms", 0.99), ("max ms", 1.0)):
        print(f"{label:<14}{ms(answers.seconds, q):>10.1f}")
    print(f"{'seconds':<14}{elapsed:>10.1f}")
    print("\nCPU ms a callback (user + system, from /proc):")
    labels = ("gunicorn workers", "PostgreSQL backends", "the client")
    for label, before_s, after_s in zip(labels, cpu_before, cpu_after, strict=True):
        print(f"  {label:<22}{1000 * (after_s - before_s) / count:>8.2f}")
    return rate


def report_floor(args, answers, elapsed, cpu_before, cpu_after, load_before, load_after) -> None:
    """The floor's figures: every answer must be the one expected, and nothing else is checked."""
    expected = 200 if args.floor == "healthz" else 400
    print(
        f"\nFLOOR ({args.floor}, nothing stored): gunicorn {args.workers} workers x "
        f"{args.threads} threads; {args.clients} clients; {len(answers.statuses):,} requests"
    )
    print(f"load average before {load_before}, after {load_after}")
    print_rate(answers, elapsed, cpu_before, cpu_after, len(answers.statuses))
    wrong = sum(status != expected for status in answers.statuses)
    if wrong:
        raise SystemExit(f"{wrong} answers other than {expected}")


def main() -> None:
    args = parse_args()
    if args.seed_child:
        seed_child(args)
        return
    cache = shared_cache_url()
    url = bench_database_url(args.database_url, DEFAULT_DATABASE, "bench/callbacks.py")
    token = secrets.token_urlsafe(32)
    port = free_port()
    sent = plan(args)
    requests = [request_bytes(token, body) for body in sent.bodies]
    warmup, timed = requests[: args.warmup], requests[args.warmup :]
    if args.floor:
        timed = [floor_request_bytes(args.floor, token)] * args.callbacks
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-callbacks-") as var_dir:
        env = server_env(args, url, var_dir, port, token, cache)
        ensure_database(url, fresh=True)
        try:
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--seed-child"]
                + [f"--calls={args.calls}", f"--tasks={args.tasks}"]
                + [f"--callbacks={args.callbacks}", f"--warmup={args.warmup}"]
                + [f"--ends={args.ends}", f"--repeats={args.repeats}"]
                + (["--smoke"] if args.smoke else []),
                env=env,
                cwd=ROOT,
                check=True,
            )
            print(f"Seeded {args.calls:,} calls in {time.perf_counter() - started:.1f} s")
            before = stored(url)
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
                warm, _ = drive(port, warmup, args.clients)
                profiler = None
                if args.profile:
                    pid = worker_pids(server.pid)[0]
                    profiler = subprocess.Popen(
                        [os.environ.get("PY_SPY", "py-spy"), "record", "-p", str(pid)]
                        + ["-o", args.profile, "-r", "200", "--nonblocking"]
                        + (["-f", "raw"] if args.profile.endswith(".txt") else []),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                load_before = loadavg()
                workers, backends = worker_pids(server.pid), BackendCPU(url)
                cpu_before = (cpu_seconds(workers), 0.0, time.process_time())
                answers, elapsed = drive(port, timed, args.clients)
                cpu_after = (cpu_seconds(workers), backends.stop(), time.process_time())
                load_after = loadavg()
                if profiler:
                    profiler.send_signal(2)
                    profiler.wait(timeout=60)
            finally:
                server.terminate()
                server.wait(timeout=60)
            after = stored(url)
        finally:
            if not args.keep:
                drop_database(url)

    if args.floor:
        report_floor(args, answers, elapsed, cpu_before, cpu_after, load_before, load_after)
        return
    # Every answer a success, and the counts in them those of the distinct records sent.
    created = changed = 0
    wrong: dict[str, int] = {}
    for status, body in zip(
        warm.statuses + answers.statuses, warm.bodies + answers.bodies, strict=True
    ):
        answer = json.loads(body) if status == 200 else {}
        if status != 200 or answer.get("message") != "success":
            key = f"{status} {body[:80]!r}"
            wrong[key] = wrong.get(key, 0) + 1
            continue
        created += answer["created"]
        changed += answer["changed"]
    if wrong:
        failures.append(f"answers other than 200 success: {wrong}")
    expected_rows = before["rows"] + sent.new
    checks = [
        ("answers 200 success", len(requests) - sum(wrong.values()), len(requests)),
        ("created, in the answers", created, sent.new),
        ("changed, in the answers", changed, sent.ends),
        ("rows stored", after["rows"], expected_rows),
        ("distinct callIds stored", after["distinct"], expected_rows),
        ("calls still in progress", after["open"], before["open"] - sent.ends),
        ("tasks' calls_total", after["calls_total"], expected_rows),
        ("tasks' calls_final", after["calls_final"], expected_rows - after["open"]),
        ("day rows' calls", after["day_rows_calls"], expected_rows),
    ]
    for name, got, want in checks:
        if got != want:
            failures.append(f"{name}: {got:,}, expected {want:,}")

    print(
        f"\ngunicorn: {args.workers} workers x {args.threads} threads; {args.clients} clients "
        f"(one asyncio process on the same machine); PostgreSQL; {args.tasks} tasks of one "
        f"account, {args.calls:,} calls stored before"
    )
    print(
        f"{len(timed):,} timed callbacks after {len(warmup):,} untimed: "
        f"{sent.new:,} new calls, {sent.ends:,} ends of calls in progress, "
        f"{sent.repeats:,} repeats (over both)"
    )
    print(f"load average before {load_before}, after {load_after}; {answers.reconnects} reconnects")
    rate = print_rate(answers, elapsed, cpu_before, cpu_after, len(timed))
    print()
    for name, got, want in checks:
        print(f"{name:<28}{got:>10,} {'ok' if got == want else f'expected {want:,}'}")
    if not args.smoke:
        aims = [
            ("at least 400 callbacks/s", rate >= 400),
            ("p99 under 250 ms", ms(answers.seconds, 0.99) < 250),
        ]
        for name, met in aims:
            print(f"aim: {name}: {'met' if met else 'missed'}")
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
