"""A thousand callbacks at once over real HTTP: Blu delivers as calls end, retries what it thinks
failed, and several tasks' calls end together. Every delivery must be answered 200, every record
stored exactly once, and every task registered exactly once, however the requests interleave."""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection
from django.db.models import F

from calls.models import CallRecord, Task
from tests.helpers import BLU_EXAMPLE, ZONE, add_account, callback_path

REQUESTS = 1000
DISTINCT = 800  # the other fifth are duplicates of these
WORKERS = 32  # PostgreSQL allows 100 connections; each live-server thread holds one
KNOWN_TASKS = ["70000001", "70000002"]
NEW_TASKS = ["70000003", "70000004", "70000005"]  # registered by the callbacks themselves

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite takes one writer at a time (CI runs it on PostgreSQL)",
    ),
]


def deliveries(seed: int = 4) -> list[bytes]:
    """The callback bodies in posting order: each distinct record once, a fifth of them twice.
    Half the duplicates follow their original at once, so the pool posts both at the same
    moment; the rest come later, as Blu's retries do."""
    rng = random.Random(seed)
    tasks = KNOWN_TASKS + NEW_TASKS
    bodies = []
    for n in range(DISTINCT):
        task_id = tasks[n % len(tasks)]
        record = {
            **BLU_EXAMPLE,
            "taskId": task_id,
            "callId": f"load-{n:04d}",
            "name": f"Borrower {n}",
            "duration": n % 300,
        }
        bodies.append(json.dumps({"taskId": task_id, "records": [record]}).encode())
    duplicated = rng.sample(range(DISTINCT), REQUESTS - DISTINCT)
    at_once, later = duplicated[::2], duplicated[1::2]
    order: list[bytes] = []
    for n, body in enumerate(bodies):
        order.append(body)
        if n in at_once:
            order.append(body)
    for n in later:
        order.insert(rng.randrange(len(order) + 1), bodies[n])
    return order


def post_all(url: str, bodies: list[bytes]) -> tuple[list[int], float]:
    """POST every body with WORKERS threads, each with its own session; statuses and seconds."""
    local = threading.local()
    sessions: list[requests.Session] = []
    lock = threading.Lock()

    def post(body: bytes) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            with lock:
                sessions.append(local.session)
        response = local.session.post(
            url, data=body, headers={"Content-Type": "application/json"}, timeout=30
        )
        return response.status_code

    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            statuses = list(pool.map(post, bodies))
    finally:
        for session in sessions:
            session.close()
    return statuses, time.perf_counter() - started


def stored() -> list[tuple]:
    return list(
        CallRecord.objects.order_by("call_id").values_list(
            "call_id", "task__blu_task_id", "content_hash", "last_changed_at"
        )
    )


def test_a_thousand_concurrent_callbacks_store_each_record_once(live_server, settings):
    settings.BLUDASH_CALLBACK_RATE_PER_MINUTE = 100_000
    account = add_account(
        "load", "load-test-key", base_url="https://blu.example", app_id="10001", time_zone=ZONE
    )
    for task_id in KNOWN_TASKS:
        Task.objects.create(account=account, blu_task_id=task_id)
    url = live_server.url + callback_path(account.callback_token)
    bodies = deliveries()
    expected_ids = {f"load-{n:04d}" for n in range(DISTINCT)}

    statuses, elapsed = post_all(url, bodies)

    print(
        f"\ncallback load: {len(bodies)} requests, {DISTINCT} distinct records, "
        f"{len(bodies) - DISTINCT} duplicates, {WORKERS} threads, {elapsed:.1f} s, "
        f"{len(bodies) / elapsed:.0f} requests/s"
    )
    assert {status: statuses.count(status) for status in set(statuses)} == {200: REQUESTS}
    assert CallRecord.objects.count() == DISTINCT
    assert set(CallRecord.objects.values_list("call_id", flat=True)) == expected_ids
    tasks = list(Task.objects.order_by("blu_task_id").values_list("blu_task_id", flat=True))
    assert tasks == sorted(KNOWN_TASKS + NEW_TASKS)
    per_task = {t: CallRecord.objects.filter(task__blu_task_id=t).count() for t in tasks}
    assert per_task == {t: DISTINCT // len(tasks) for t in tasks}
    # A duplicate that raced its original rewrote nothing: "last changed" is when it arrived.
    assert not CallRecord.objects.exclude(last_changed_at=F("first_seen_at")).exists()

    before = stored()
    statuses, elapsed = post_all(url, bodies)

    print(f"callback load, replayed: {len(bodies)} requests, {elapsed:.1f} s")
    assert set(statuses) == {200}
    assert stored() == before
    assert Task.objects.count() == len(KNOWN_TASKS + NEW_TASKS)
