"""A task Blu says it does not know (a made-up, mistyped or not-yet-made id): asked again later and
later, then no longer polled, never the account's failure, and polled again once a person asks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from calls.blu.client import BluTaskUnknown
from calls.ingest import polling, sync
from calls.models import BluAccount, CallRecord, Task
from tests.helpers import APP_ID, post_callback

UNKNOWN = "404404"  # a task id the sandbox has never heard of


@pytest.fixture
def unknown_task(account, settings):
    settings.BLUDASH_UNKNOWN_TASK_TRIES = 4
    settings.BLUDASH_UNKNOWN_TASK_RETRY_SECONDS = 600
    return Task.objects.create(account=account, blu_task_id=UNKNOWN)


def fail_as_unknown(task: Task, times: int = 1) -> Task:
    for _ in range(times):
        with pytest.raises(BluTaskUnknown, match="task not found"):
            sync.sync_task(task)
    task.refresh_from_db()
    return task


def minutes_to_next_try(task: Task) -> int:
    assert task.next_poll_at is not None and task.last_sync_at is not None
    return round((task.next_poll_at - task.last_sync_at).total_seconds() / 60)


def test_a_task_blu_does_not_know_is_asked_again_later_and_later_then_no_longer(unknown_task):
    waits = []
    for _ in range(3):
        task = fail_as_unknown(unknown_task)
        waits.append(minutes_to_next_try(task))
        assert task.is_polled and task.pk not in polling.due_task_ids()

    task = fail_as_unknown(unknown_task)

    assert waits == [10, 20, 40]
    assert not task.is_polled and task.next_poll_at is None
    assert task.blu_unknown_tries == 4 and task.stopped_as_unknown
    assert task.pk not in polling.due_task_ids()


def test_blu_not_knowing_a_task_never_flags_the_account_or_emails_anyone(unknown_task, settings):
    settings.BLUDASH_ACCOUNT_FAILURE_ALERT = 2
    settings.ADMINS = [("Ops", "ops@example.com")]

    task = fail_as_unknown(unknown_task, times=4)

    account = BluAccount.objects.get(pk=task.account_id)
    assert account.consecutive_failures == 0 and account.failure_alert_sent_at is None
    assert mail.outbox == []
    # The task's own count still says what happened to it.
    assert task.consecutive_failures == 4 and "task not found" in task.last_error


def test_a_task_blu_knows_later_is_polled_again_after_a_manual_sync(unknown_task, sandbox):
    fail_as_unknown(unknown_task, times=4)
    sandbox.add_task(app_id=APP_ID, task_id=UNKNOWN, calls=5, started_at=sandbox.now())
    sandbox.advance(3600)

    sync.sync_task(unknown_task, trigger="command")

    task = Task.objects.get(pk=unknown_task.pk)
    assert task.is_polled and task.blu_unknown_tries == 0 and not task.unknown_to_blu
    assert CallRecord.objects.filter(task=task).count() == 5
    assert task.pk in polling.due_task_ids()


def test_registering_a_task_blu_did_not_know_again_polls_it_from_the_first_try(unknown_task):
    fail_as_unknown(unknown_task, times=4)

    registration = polling.register_tasks(unknown_task.account, [UNKNOWN])

    task = Task.objects.get(pk=unknown_task.pk)
    assert registration.revived == [task] and registration.added == []
    assert task.is_polled and task.blu_unknown_tries == 0 and task.pk in polling.due_task_ids()


def test_a_callback_for_a_task_blu_did_not_know_is_stored_but_does_not_restart_polling(
    unknown_task, client
):
    # Blu signs no callback: a made-up task kept alive by callbacks would be polled forever.
    fail_as_unknown(unknown_task, times=4)
    record = {"taskId": UNKNOWN, "callId": 9, "code": "D00", "startTime": "2024-01-01 13:00:00"}

    response = post_callback(client, unknown_task.account, {"taskId": UNKNOWN, "records": [record]})

    task = Task.objects.get(pk=unknown_task.pk)
    assert response.status_code == 200 and task.calls_total == 1
    assert task.stopped_as_unknown and task.pk not in polling.due_task_ids()


def test_any_other_failure_leaves_the_count_of_tries_as_it_was(unknown_task, sandbox):
    fail_as_unknown(unknown_task, times=2)
    sandbox.add_task(app_id=APP_ID, task_id=UNKNOWN, calls=3)
    sandbox.inject("code", task_id=UNKNOWN, times=None, message="internal error")

    with pytest.raises(Exception, match="internal error"):
        sync.sync_task(unknown_task)

    task = Task.objects.get(pk=unknown_task.pk)
    assert task.blu_unknown_tries == 2 and task.is_polled
    # An ordinary failure is retried on the usual schedule, not the unknown task's.
    assert task.next_poll_at - task.last_sync_at < timedelta(minutes=6)
