"""Only Blu's own failures (its answers, its timeouts) count toward an account's failures in a
row: our own faults fail the task's sync, visibly, but never flag the account or email admins."""

from __future__ import annotations

import pytest
from django.core import mail

from calls.blu.client import BluPermanentError
from calls.ingest import sync
from calls.models import BluAccount, Task
from calls.security.crypto import AppKeyUnreadable


def test_an_unreadable_key_fails_the_task_but_not_the_account(make_task, settings):
    settings.BLUDASH_ACCOUNT_FAILURE_ALERT = 1
    task = make_task(calls=3)
    BluAccount.objects.filter(pk=task.account_id).update(app_key_encrypted="not a fernet token")
    task.account.refresh_from_db()

    with pytest.raises(AppKeyUnreadable):
        sync.sync_task(task)

    task.refresh_from_db()
    account = BluAccount.objects.get(pk=task.account_id)
    assert task.consecutive_failures == 1 and not task.last_sync_ok
    assert account.consecutive_failures == 0 and account.failure_alert_sent_at is None
    assert mail.outbox == []


def test_blus_own_refusal_counts_for_the_account(make_task, sandbox, settings):
    settings.BLUDASH_ACCOUNT_FAILURE_ALERT = 1
    task = make_task(calls=3)
    sandbox.inject("code", task_id=task.blu_task_id, times=None, code=4006, message="no task")

    with pytest.raises(BluPermanentError):
        sync.sync_task(task)

    account = BluAccount.objects.get(pk=task.account_id)
    assert account.consecutive_failures == 1 and "no task" in account.last_error
    assert Task.objects.get(pk=task.pk).consecutive_failures == 1
