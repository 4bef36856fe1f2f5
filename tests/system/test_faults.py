"""Faults a deployment meets, made for real: a worker killed mid-sync, Redis restarted under the
workers and beat, and the database connection dropped in the middle of a page.

Workers and beat run as `celery -A bludash ...` subprocesses against this test's PostgreSQL
database and a redis-server of the test's own (tests/system/faultkit.py); the rows they must see are
committed, hence transactional tests. Figures are printed (pytest -s shows them).
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from bludash.celery import app
from calls import tasks
from calls.ingest import sync
from calls.models import SyncRun, Task
from calls.seed import POLL_TASK_NAME
from tests.helpers import SANDBOX_PAGE, blu_call_ids, stored_call_ids, wait_for
from tests.system import faultkit

ON_POSTGRES = django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")

pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL: set DATABASE_URL (CI does)"),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server on PATH"),
]

POLL = "calls.tasks.poll_due_tasks"


@pytest.fixture
def services(transactional_db, tmp_path) -> Iterator[faultkit.Services]:
    running = faultkit.Services(tmp_path)
    running.redis.start()
    try:
        yield running
    finally:
        running.stop()


def assert_stored_exactly_once(task: Task, sandbox) -> int:
    ids = stored_call_ids(task)
    blu = set(blu_call_ids(sandbox, task))
    assert len(ids) == len(set(ids)) == len(blu)
    assert set(ids) == blu
    return len(ids)


# --- 1. a worker killed mid-sync -----------------------------------------------------------


def test_a_worker_killed_mid_sync_loses_nothing_and_the_next_poll_completes_the_task(
    make_task, sandbox, services
):
    task = make_task(calls=30)  # five pages
    # Page 3 answers after 3 s (within the workers' 5 s read timeout): the kill lands then.
    sandbox.inject("slow", task_id=task.blu_task_id, page_no=3, times=1, seconds=3.0)
    first = services.worker("first")
    faultkit.send_task(services.broker, POLL)  # what beat sends

    mid_sync = SyncRun.objects.filter(task=task, outcome=SyncRun.Outcome.RUNNING, pages__gte=2)
    assert wait_for(mid_sync.exists, seconds=30), first.log_tail()
    assert len(first.group()) >= 2  # the worker and its pool child
    first.kill_group()
    assert wait_for(lambda: not first.group(), seconds=10)
    killed_at = time.monotonic()

    killed = SyncRun.objects.get(task=task)
    stored_at_kill = len(stored_call_ids(task))
    assert killed.outcome == SyncRun.Outcome.RUNNING and 0 < stored_at_kill < 30

    # The message the killed worker held stays unacked in Redis until the visibility timeout
    # (an hour); what brings the task back sooner is the poll, once the dead worker's lease
    # and the poll's queued mark have run out. Here the test plays beat, once a second.
    second = services.worker("second")

    def completed() -> bool:
        if SyncRun.objects.filter(task=task, outcome=SyncRun.Outcome.OK).exists():
            return True
        faultkit.send_task(services.broker, POLL)
        return False

    assert wait_for(completed, seconds=45, step=1.0), second.log_tail()
    recovered_in = time.monotonic() - killed_at

    assert assert_stored_exactly_once(task, sandbox) == 30
    killed.refresh_from_db()
    assert killed.outcome == SyncRun.Outcome.FAILED
    assert "the worker stopped" in killed.error
    task.refresh_from_db()
    assert task.last_sync_ok and task.sync_owner == ""
    print(
        f"\nkilled worker: 30 records, {stored_at_kill} stored at the kill, 1 kill survived, "
        f"completed {recovered_in:.1f}s after the kill (lease 8s, queued mark 5s)"
    )


def test_a_pool_child_killed_mid_sync_is_redone_by_its_redelivered_message(
    make_task, sandbox, services
):
    task = make_task(calls=30)
    sandbox.inject("slow", task_id=task.blu_task_id, page_no=3, times=1, seconds=3.0)
    worker = services.worker("worker")
    faultkit.send_task(services.broker, "calls.tasks.sync_task", task.pk, "poll")

    mid_sync = SyncRun.objects.filter(task=task, outcome=SyncRun.Outcome.RUNNING, pages__gte=2)
    assert wait_for(mid_sync.exists, seconds=30), worker.log_tail()
    children = [pid for pid in worker.group() if pid != worker.pid]
    assert len(children) == 1
    os.kill(children[0], signal.SIGKILL)  # what the kernel's OOM killer does to the biggest one
    killed_at = time.monotonic()

    # The worker requeues the message at once (reject_on_worker_lost) and a new child takes it
    # while the dead child's lease still holds: no poll is sent here, the message must do.
    done = SyncRun.objects.filter(task=task, outcome=SyncRun.Outcome.OK)
    assert wait_for(done.exists, seconds=40), worker.log_tail()
    recovered_in = time.monotonic() - killed_at

    assert worker.process.poll() is None  # the worker itself lived on
    assert assert_stored_exactly_once(task, sandbox) == 30
    assert SyncRun.objects.filter(error__contains="the worker stopped").count() == 1
    print(f"\nkilled pool child: 30 records, completed {recovered_in:.1f}s after the kill")


# --- 2. Redis restarted under the workers and beat -----------------------------------------


def test_workers_and_beat_reconnect_after_redis_restarts_and_polling_resumes(make_task, services):
    make_task("66547748", calls=12)
    make_task("66547749", calls=9)
    poll = PeriodicTask.objects.get(name=POLL_TASK_NAME)
    poll.interval, _ = IntervalSchedule.objects.get_or_create(
        every=2, period=IntervalSchedule.SECONDS
    )
    poll.save()
    services.worker("worker")
    beat = services.beat()

    ok_runs = SyncRun.objects.filter(outcome=SyncRun.Outcome.OK)
    assert wait_for(lambda: ok_runs.count() >= 4, seconds=40), beat.log_tail()

    outage_seconds = 3.0  # the outage itself, not a wait for anything
    services.redis.kill()
    down_at = time.monotonic()
    time.sleep(outage_seconds)
    services.redis.start()
    restarted = timezone.now()
    restarted_at = time.monotonic()

    # Each task synced twice after the restart: the restart emptied Redis and the worker holds
    # at most two messages from before it, so these come from polls beat published after it.
    after = ok_runs.filter(started_at__gt=restarted)
    assert wait_for(lambda: after.count() >= 4, seconds=45), beat.log_tail()
    recovered_in = time.monotonic() - restarted_at
    print(
        f"\nredis restart: {ok_runs.count()} syncs, 1 restart survived "
        f"({restarted_at - down_at:.1f}s down), polling resumed {recovered_in:.1f}s after it"
    )


# --- 3. the database connection dropped mid-page -------------------------------------------


def backend_waiting_on_a_lock() -> int | None:
    """Another session of the test database waiting for a lock (the blocked sync)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def page_ids(sandbox, task: Task, page_no: int) -> set[str]:
    first = (page_no - 1) * SANDBOX_PAGE
    records = sandbox.records(task.blu_task_id)[first : first + SANDBOX_PAGE]
    return {str(record["callId"]) for record in records}


def sync_in_a_thread(
    task: Task, backend: list[int] | None = None
) -> tuple[threading.Thread, list[BaseException]]:
    """A started thread syncing `task` on a connection of its own, and the list of what it raised.
    With `backend`, the pid of the connection the sync will use is appended to it first."""
    raised: list[BaseException] = []

    def run_sync() -> None:
        try:
            if backend is not None:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    backend.append(cursor.fetchone()[0])
            sync.sync_task(Task.objects.select_related("account").get(pk=task.pk))
        except BaseException as exc:
            raised.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run_sync)
    thread.start()
    return thread, raised


def drop_the_connection_of_page_3(task: Task, sandbox) -> int:
    """Once pages 1 and 2 are stored, hold page 3's transaction after its upsert and terminate
    its connection; returns the terminated backend's pid.

    The page learns new codes after the upsert, inside the same transaction: an ACCESS EXCLUSIVE
    lock on the conclusions table makes it wait there, with the page's rows inserted.
    """
    assert any(record["code"] for record in sandbox.records(task.blu_task_id)[14:21])
    two_pages = SyncRun.objects.filter(task=task, pages__gte=2)
    assert wait_for(two_pages.exists, seconds=20)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE calls_conclusion IN ACCESS EXCLUSIVE MODE")
        assert wait_for(lambda: backend_waiting_on_a_lock() is not None, seconds=20)
        pid = backend_waiting_on_a_lock()
        assert pid is not None
        terminate(pid)
    return pid


def test_a_dropped_connection_mid_page_fails_the_sync_cleanly_and_a_retry_completes(
    make_task, sandbox
):
    task = make_task(calls=30)
    sandbox.inject("slow", task_id=task.blu_task_id, page_no=3, times=1, seconds=1.5)

    thread, raised = sync_in_a_thread(task)
    try:
        drop_the_connection_of_page_3(task, sandbox)
    finally:
        thread.join(timeout=30)

    assert len(raised) == 1 and isinstance(raised[0], OperationalError)
    run = SyncRun.objects.get(task=task)
    assert run.outcome == SyncRun.Outcome.FAILED and run.pages == 2
    assert "database" in run.error and "terminating connection" in run.error
    task.refresh_from_db()
    assert task.sync_owner == "" and task.sync_lease_until is None  # a retry may claim it
    assert task.last_sync_ok is False
    stored = set(stored_call_ids(task))
    assert page_ids(sandbox, task, 1) | page_ids(sandbox, task, 2) <= stored
    page_3 = page_ids(sandbox, task, 3)
    assert page_3 <= stored or not page_3 & stored  # the page whole or not at all

    retry = sync.sync_task(task)  # what the Celery retry runs

    assert retry.outcome == SyncRun.Outcome.OK
    assert assert_stored_exactly_once(task, sandbox) == 30
    print(f"\ndropped connection: {len(stored)} of 30 stored before the retry, 30 after")


def test_a_connection_dropped_between_pages_fails_the_sync_cleanly(make_task, sandbox):
    task = make_task(calls=30)
    sandbox.inject("slow", task_id=task.blu_task_id, page_no=3, times=1, seconds=1.5)
    backend: list[int] = []  # the connection the sync will use

    thread, raised = sync_in_a_thread(task, backend)
    try:
        # While page 3 downloads, the sync's connection sits idle between two pages.
        assert wait_for(SyncRun.objects.filter(task=task, pages__gte=2).exists, seconds=20)
        terminate(backend[0])
    finally:
        thread.join(timeout=30)

    assert len(raised) == 1 and isinstance(raised[0], OperationalError)
    run = SyncRun.objects.get(task=task)
    assert run.outcome == SyncRun.Outcome.FAILED and "database" in run.error
    task.refresh_from_db()
    assert task.sync_owner == "" and task.last_sync_ok is False
    assert len(stored_call_ids(task)) == 2 * SANDBOX_PAGE

    assert sync.sync_task(task).outcome == SyncRun.Outcome.OK
    assert assert_stored_exactly_once(task, sandbox) == 30


def test_a_celery_worker_retries_a_sync_whose_database_connection_dropped(
    make_task, sandbox, settings
):
    settings.BLUDASH_TASK_RETRY_MAX_DELAY = 1  # the retry's countdown, on a test's scale
    task = make_task(calls=30)
    sandbox.inject("slow", task_id=task.blu_task_id, page_no=3, times=1, seconds=1.5)
    app.control.purge()

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        tasks.sync_task.delay(task.pk, "poll")
        drop_the_connection_of_page_3(task, sandbox)
        dropped_at = time.monotonic()
        ok = SyncRun.objects.filter(task=task, outcome=SyncRun.Outcome.OK)
        assert wait_for(ok.exists, seconds=30)
        recovered_in = time.monotonic() - dropped_at

    failed, retried = SyncRun.objects.filter(task=task).order_by("started_at")
    assert failed.outcome == SyncRun.Outcome.FAILED and "database" in failed.error
    assert retried.outcome == SyncRun.Outcome.OK
    assert assert_stored_exactly_once(task, sandbox) == 30
    print(f"\ncelery retry after a dropped connection: completed {recovered_in:.1f}s after it")
