"""Two writers of one account's calls at once, on PostgreSQL: they take turns on the account's
row, so neither counts what the other is writing, and none deadlocks with a reclassification.
(SQLite runs one writer at a time anyway.)"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from calls.ingest import borrower_backfill, borrowers, callback_tasks, callbacks, summaries, verify
from calls.models import Borrower, CallRecord, Task, lock_account_writes
from tests.helpers import (
    BLU_EXAMPLE,
    a_session_waits_on_a_lock,
    add_account,
    make_call,
    wait_for,
)


def body(task_id: str, **fields) -> bytes:
    record = {**BLU_EXAMPLE, "taskId": task_id, "callId": "x1", **fields}
    return json.dumps({"taskId": task_id, "records": [record]}).encode()


def in_a_thread(work) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.fixture
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; SQLite runs one writer at a time anyway")


@pytest.mark.django_db(transaction=True)
def test_one_new_call_written_under_two_tasks_at_once_is_counted_once(postgresql_only):
    account = add_account("collections")
    with transaction.atomic():
        callbacks.receive(account, body("501", code="PTP"))  # not committed yet
        thread, errors = in_a_thread(lambda: callbacks.receive(account, body("502", code="AP")))
        waited = wait_for(a_session_waits_on_a_lock, seconds=10, step=0.02)
    thread.join(timeout=30)

    assert waited and not errors and not thread.is_alive()
    call = CallRecord.objects.get()
    assert call.task.blu_task_id == "501" and call.code == "AP"
    assert any(problem.startswith("another task") for problem in call.problems)
    assert [line for task in Task.objects.all() for line in verify.task_drift(task)] == []
    assert Task.objects.get(blu_task_id="502").calls_total == 0


@pytest.mark.django_db(transaction=True)
def test_a_reclassification_waits_for_a_cross_task_write_without_deadlock(postgresql_only):
    account = add_account("collections")
    callbacks.receive(account, body("501", code="Willing"))
    callbacks.receive(account, body("502", callId="x2", code="Willing"))
    with transaction.atomic():
        # The 502 writer holds 501 too: the call it updates lives there.
        callbacks.receive(account, body("502", code="PTP"))
        thread, errors = in_a_thread(summaries.apply_conclusion_flags)
        waited = wait_for(a_session_waits_on_a_lock, seconds=10, step=0.02)
    thread.join(timeout=30)

    assert waited and not errors and not thread.is_alive()
    assert [line for task in Task.objects.all() for line in verify.task_drift(task)] == []


@pytest.mark.django_db(transaction=True)
def test_two_callbacks_at_once_cannot_both_take_the_hours_last_new_task(postgresql_only, settings):
    # Two connections stand for two web processes: the count they share is the database's.
    settings.BLUDASH_CALLBACK_NEW_TASKS_PER_HOUR = 1
    account = add_account("collections")
    with transaction.atomic():
        callbacks.receive(account, body("501"))  # not committed yet
        thread, errors = in_a_thread(lambda: callbacks.receive(account, body("502", callId="x2")))
        waited = wait_for(a_session_waits_on_a_lock, seconds=10, step=0.02)
    thread.join(timeout=30)

    assert waited and not thread.is_alive()
    assert [type(error) for error in errors] == [callback_tasks.TooManyNewTasks]
    assert list(Task.objects.values_list("blu_task_id", flat=True)) == ["501"]
    assert list(CallRecord.objects.values_list("call_id", flat=True)) == ["x1"]


@pytest.mark.django_db(transaction=True)
def test_the_borrower_refresh_beside_a_write_holding_its_borrowers_does_not_deadlock(
    postgresql_only,
):
    account = add_account("collections")
    task = Task.objects.create(account=account, blu_task_id="501")
    now = timezone.now()
    edge = now - timedelta(days=6, hours=23)
    make_call(task, "a-old", now - timedelta(days=8), ext_vars={"uniqueId": "A"})
    make_call(task, "a-edge", edge, ext_vars={"uniqueId": "A"})
    make_call(task, "b-edge", edge, ext_vars={"uniqueId": "B"})
    borrower_backfill.backfill(account)
    first, second = Borrower.objects.order_by("pk")
    later = now + timedelta(days=1)  # both borrowers' edge calls have left the window

    with transaction.atomic():
        # A writer that has written the page's borrower (the later one) and will recount the
        # earlier one too, which its call left.
        list(Borrower.objects.select_for_update().filter(pk=second.pk).values_list("pk"))
        thread, errors = in_a_thread(lambda: borrowers.refresh_expired(now=later))
        # Before the fix the refresh took the first borrower and waited on the second.
        wait_for(lambda: not thread.is_alive() or a_session_waits_on_a_lock(), seconds=10)
        borrowers.recount([first.pk, second.pk], later)
    thread.join(timeout=30)

    assert not errors and not thread.is_alive()
    assert [b.calls_7d for b in Borrower.objects.order_by("pk")] == [0, 0]


@pytest.mark.django_db(transaction=True)
def test_a_backfill_waiting_for_a_write_links_by_what_the_write_committed(postgresql_only):
    account = add_account("collections")
    callbacks.receive(account, body("501", extVars=json.dumps({"uniqueId": "OLD"})))

    with transaction.atomic():
        lock_account_writes(account.pk)  # a callback's write, under way
        thread, errors = in_a_thread(lambda: borrower_backfill.backfill(account, relink=True))
        waited = wait_for(a_session_waits_on_a_lock, seconds=10, step=0.02)
        callbacks.receive(account, body("501", extVars=json.dumps({"uniqueId": "NEW"})))
    thread.join(timeout=30)

    assert waited and not errors and not thread.is_alive()
    assert CallRecord.objects.get().borrower.key == "NEW"
