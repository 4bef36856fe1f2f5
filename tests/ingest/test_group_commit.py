"""Callbacks of one account arriving while its write turn is taken are written together, each
answered with its own counts once its record is committed (calls/ingest/group_commit.py), on
PostgreSQL. (SQLite runs one writer at a time anyway.)"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.db import connection, connections, transaction

from calls.ingest import callbacks, group_commit
from calls.ingest.summaries import refresh_task_summary
from calls.models import CallRecord, Task, lock_account_writes
from tests.helpers import BLU_EXAMPLE, a_session_waits_on_a_lock, add_account, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; SQLite runs one writer at a time anyway")


def body(task_id: str, call_id: str, **fields: Any) -> bytes:
    record = {**BLU_EXAMPLE, "taskId": task_id, "callId": call_id, **fields}
    return json.dumps({"taskId": task_id, "records": [record]}).encode()


def receive_in_a_thread(account, payload: bytes, answers: dict, key: str) -> threading.Thread:
    def run() -> None:
        try:
            answers[key] = callbacks.receive(account, payload).result
        except BaseException as exc:  # reported by the test
            answers[key] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def queued(account_pk: int) -> int:
    queue = group_commit._queues.get(account_pk)
    return len(queue.waiting) if queue else 0


def figures(task: Task) -> tuple[int, int]:
    task.refresh_from_db()
    return task.calls_total, task.calls_final


def test_callbacks_waiting_for_the_turn_are_written_together_each_with_its_own_answer():
    account = add_account("collections")
    for task_id in ("601", "602"):
        callbacks.receive(account, body(task_id, f"seed-{task_id}"))  # the tasks exist
    answers: dict[str, Any] = {}
    threads = []
    with transaction.atomic():
        lock_account_writes(account.pk)  # a sync's page, say, holds the account's turn
        threads.append(receive_in_a_thread(account, body("601", "a"), answers, "a"))
        assert wait_for(a_session_waits_on_a_lock, seconds=10, step=0.02)
        for key, payload in [
            ("b", body("602", "b")),
            ("c", body("601", "c", code="", endTime="", duration=None)),  # in progress
            ("c-end", body("601", "c")),  # its end, after it: not in its batch
            ("seed", body("601", "seed-601")),  # a repeat: nothing to write
        ]:
            threads.append(receive_in_a_thread(account, payload, answers, key))
            # In order: each queued before the next starts (the first, a, waits for the turn).
            ahead = len(threads) - 1
            assert wait_for(lambda ahead=ahead: queued(account.pk) >= ahead, seconds=10)
        assert not answers  # nobody answered while nothing is committed
    for thread in threads:
        thread.join(timeout=30)

    counts = {key: (r.created, r.changed, r.unchanged) for key, r in answers.items()}
    assert counts == {
        "a": (1, 0, 0),
        "b": (1, 0, 0),
        "c": (1, 0, 0),
        "c-end": (0, 1, 0),
        "seed": (0, 0, 1),
    }
    written = dict(CallRecord.objects.values_list("call_id", "first_seen_at"))
    # b and c, queued while a waited for the turn, were written with a by one transaction (one
    # moment); c's end came in the next.
    assert written["a"] == written["b"] == written["c"]
    ended = CallRecord.objects.get(call_id="c")
    assert ended.code == BLU_EXAMPLE["code"] and ended.last_changed_at > written["c"]
    for task in Task.objects.all():
        applied = figures(task)
        refresh_task_summary(task)
        assert figures(task) == applied  # the figures written with the batch are exact


def test_a_callback_that_fails_in_a_batch_fails_alone_and_its_neighbours_are_stored():
    account = add_account("collections")
    callbacks.receive(account, body("601", "seed-601"))
    doomed = Task.objects.create(account=account, blu_task_id="602")  # no call yet
    answers: dict[str, Any] = {}
    threads = []
    with transaction.atomic():
        lock_account_writes(account.pk)
        threads.append(receive_in_a_thread(account, body("601", "x"), answers, "x"))
        assert wait_for(a_session_waits_on_a_lock, seconds=10, step=0.02)
        # a and b queue while x waits for the turn: the three go in one batch.
        threads.append(receive_in_a_thread(account, body("601", "a"), answers, "a"))
        assert wait_for(lambda: queued(account.pk) >= 1, seconds=10)
        threads.append(receive_in_a_thread(account, body("602", "b"), answers, "b"))
        assert wait_for(lambda: queued(account.pk) >= 2, seconds=10)
        # Deleted by a manager after b's callback found it: b's record has no task to go to.
        doomed.delete()
    for thread in threads:
        thread.join(timeout=30)

    assert answers["x"].created == answers["a"].created == 1
    assert isinstance(answers["b"], Exception)  # a 500 for Blu, which retries it
    assert set(CallRecord.objects.values_list("call_id", flat=True)) == {"seed-601", "x", "a"}
    task = Task.objects.get(blu_task_id="601")
    assert figures(task) == (3, 3)
