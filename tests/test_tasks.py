"""The Celery side: the plain task functions, and once for real with a worker on Redis."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django_celery_beat.models import PeriodicTask

from bludash.celery import app
from calls import tasks
from calls.blu.client import BluTemporaryError
from calls.ingest import polling
from calls.models import CallRecord, SyncRun, Task
from calls.seed import POLL_TASK_NAME
from tests.helpers import APP_KEY, WRONG_KEY, wait_for


def test_the_poll_is_in_beats_schedule_after_migrate(db):
    poll = PeriodicTask.objects.get(name=POLL_TASK_NAME)
    assert poll.task == "calls.tasks.poll_due_tasks" and poll.enabled
    assert poll.interval.every == 300


def test_a_sync_job_runs_the_sync_and_reports(make_task):
    task = make_task(calls=9)
    assert tasks.sync_task.run(task.pk, "poll") == "ok: 2 pages, 9 new, 0 changed"
    assert CallRecord.objects.count() == 9


def test_a_permanent_failure_is_recorded_not_retried(make_task, sandbox):
    task = make_task(calls=9)
    sandbox.inject(
        "code", task_id=task.blu_task_id, times=None, code=4006, message="task not found"
    )
    assert tasks.sync_task.run(task.pk, "poll") == "failed"
    assert "task not found" in SyncRun.objects.get().error


def test_a_temporary_failure_is_handed_to_celery_to_retry(make_task, sandbox, settings):
    settings.BLUDASH_BLU_RETRIES = 1
    task = make_task(calls=9)
    sandbox.inject("http500", task_id=task.blu_task_id, times=None)

    # apply() runs the job in this process and follows each retry it asks Celery for at once
    # (countdowns are not waited for): how many syncs ran says whether Celery retried. Called
    # with .run(), a retry would only re-raise the error, retried or not.
    result = tasks.sync_task.apply((task.pk, "poll"))

    assert result.failed() and isinstance(result.result, BluTemporaryError)
    runs = SyncRun.objects.all()
    assert runs.count() == 1 + tasks.sync_task.max_retries
    assert {run.outcome for run in runs} == {SyncRun.Outcome.FAILED}


def test_a_permanent_failure_is_not_retried_by_celery(make_task, sandbox):
    task = make_task(calls=9)
    sandbox.inject("code", task_id=task.blu_task_id, times=None, code=4006, message="no task")

    result = tasks.sync_task.apply((task.pk, "poll"))

    assert result.successful() and result.result == "failed"
    assert SyncRun.objects.count() == 1


def test_retry_delays_grow_and_stay_far_below_the_visibility_timeout():
    delays = [tasks.retry_delay(n) for n in range(tasks.sync_task.max_retries + 1)]
    assert delays == sorted(delays) and delays[0] == 15
    assert max(delays) <= 300 < 3600


def test_the_poll_retires_old_tasks_and_queues_each_due_task_once(make_task):
    active, old = make_task("66547748", calls=3), make_task("66547749", calls=3)
    Task.objects.filter(pk=old.pk).update(
        first_seen_at=old.first_seen_at - timedelta(days=60), last_call_at=None
    )

    assert tasks.poll_due_tasks() == 1
    assert tasks.poll_due_tasks() == 0
    old.refresh_from_db()
    assert not old.is_polled and active.pk not in polling.due_task_ids()


def test_a_sync_job_for_a_deleted_task_does_nothing(db):
    assert tasks.sync_task.run(123456, "poll") == "gone"


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_on_redis_runs_the_periodic_poll_until_records_appear(make_task, sandbox):
    first = make_task("66547748", calls=15)
    second = make_task("66547749", calls=11)
    app.control.purge()

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        tasks.poll_due_tasks.delay()  # what beat sends on its schedule
        assert wait_for(lambda: CallRecord.objects.count() == 26)
        assert wait_for(lambda: Task.objects.filter(last_sync_ok=True).count() == 2)

    assert CallRecord.objects.filter(task=first).count() == 15
    assert CallRecord.objects.filter(task=second).count() == 11


# --- queues: one per kind of work ---------------------------------------------------------------


def queue_of(task_name: str) -> str:
    """The queue a job of this name is sent to, as the web, beat or a worker would send it."""
    return app.amqp.router.route({}, task_name, (), {})["queue"].name


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("calls.tasks.sync_task", "syncs"),
        ("calls.tasks.email_failure_alert", "mail"),
        ("calls.tasks.export_calls", "exports"),
        ("calls.tasks.expire_exports", "celery"),
        ("calls.tasks.poll_due_tasks", "celery"),
        ("calls.tasks.verify_figures", "celery"),
        ("calls.tasks.reread_account", "celery"),
    ],
)
def test_each_kind_of_job_goes_to_its_own_queue(task_name, queue):
    assert queue_of(task_name) == queue


def test_a_worker_started_without_a_queue_list_consumes_every_queue_a_job_is_sent_to():
    # Procfile.demo's worker, the tests' and faultkit's name no -Q: a job routed to a queue
    # missing from CELERY_TASK_QUEUES would wait there for a worker that never comes.
    consumed = set(app.amqp.queues.consume_from)
    routed = {queue_of(name) for name in app.tasks}
    assert consumed == {"syncs", "exports", "mail", "celery"}
    assert routed <= consumed


@pytest.mark.redis
def test_a_sync_queued_on_redis_waits_in_the_syncs_queue_not_behind_other_work(db):
    import redis
    from django.conf import settings

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    app.control.purge()
    tasks.enqueue_sync(123456)
    tasks.email_failure_alert.apply_async((1, "2026-01-01T00:00:00+00:00"), retry=False)
    try:
        assert (broker.llen("syncs"), broker.llen("mail"), broker.llen("celery")) == (1, 1, 0)
    finally:
        app.control.purge()


def test_a_permanent_blu_failure_is_logged_as_an_error_naming_account_task_and_message(
    make_task, caplog
):
    task = make_task(calls=9)
    # Blu refuses a request signed with a key it does not know: a permanent failure.
    task.account.set_app_key(WRONG_KEY)
    task.account.save()

    with caplog.at_level(logging.ERROR, logger="calls.tasks"):
        assert tasks.sync_task.run(task.pk, "poll") == "failed"

    [line] = [r for r in caplog.records if r.levelno == logging.ERROR]
    text = line.getMessage()
    assert "collections" in text and task.blu_task_id in text and "sign error" in text
    assert WRONG_KEY not in text and APP_KEY not in text


def test_a_task_blu_does_not_know_is_a_warning_not_an_error(make_task, sandbox, caplog):
    # Callbacks may name any number of made-up tasks: each is asked again later, then dropped
    # (calls/ingest/unknown_tasks.py), which is no error for anyone to act on.
    task = make_task(calls=9)
    sandbox.inject(
        "code", task_id=task.blu_task_id, times=None, code=4006, message="task not found"
    )

    with caplog.at_level(logging.WARNING, logger="calls.tasks"):
        assert tasks.sync_task.run(task.pk, "poll") == "failed"

    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    [line] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert task.blu_task_id in line.getMessage() and "task not found" in line.getMessage()
