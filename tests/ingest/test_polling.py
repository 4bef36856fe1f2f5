"""Taking the due tasks when two polls run at once (a second beat started by mistake, or a poll
job redelivered while the next one runs): each due task is queued by one of them, never both.
On PostgreSQL, with two connections; SQLite runs one writer at a time anyway."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from calls.ingest import polling
from calls.models import Task
from tests.helpers import account_without_blu, wait_for


def sessions_waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else the view is read once per txn
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_two_polls_at_once_queue_each_due_task_once():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; SQLite runs one writer at a time anyway")
    account = account_without_blu("busy")
    due = [Task.objects.create(account=account, blu_task_id=str(n)).pk for n in range(20)]
    taken: list[list[int]] = []
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            taken.append(polling.take_due_tasks())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    polls = [threading.Thread(target=poll) for _ in range(2)]
    # A write holding the tasks' rows (a callback keeping a task's figures current) makes the
    # two polls meet: both have read which tasks are due before either may mark one.
    with transaction.atomic():
        list(Task.objects.select_for_update().filter(pk__in=due))
        for thread in polls:
            thread.start()
        both_wait = wait_for(lambda: sessions_waiting_on_a_lock() == 2, seconds=10, step=0.02)
    # The write has committed: the polls go on.
    for thread in polls:
        thread.join(timeout=30)

    assert both_wait and not errors and not any(thread.is_alive() for thread in polls)
    assert sorted(pk for each in taken for pk in each) == sorted(due)
    assert polling.take_due_tasks() == []  # queued: a third poll leaves them too
