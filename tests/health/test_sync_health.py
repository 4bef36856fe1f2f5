"""The sync-health strip's numbers: what is failing, for how long, and who is behind."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from calls.health import sync_health
from calls.ingest import sync
from calls.models import BluAccount, Task
from tests.helpers import fail_on_a_wrong_key


def test_sync_health_names_a_failing_task_and_its_account(make_task, sandbox):
    good, bad = make_task("66547748", calls=3), make_task("66547749", calls=3)
    sync.sync_task(good)
    Task.objects.filter(pk=good.pk).update(
        last_success_at=timezone.now() - timedelta(hours=5)  # a long time without news
    )
    fail_on_a_wrong_key(bad)

    state = sync_health.sync_health()

    assert (state.polled, state.failing, state.never_synced) == (2, 1, 1)
    assert state.failing_tasks[0].pk == bad.pk and "sign error" in state.failing_tasks[0].error
    assert state.stalest is not None and state.stalest.pk == good.pk
    assert state.behind is not None and state.behind > timedelta(hours=4) and state.late
    assert not state.healthy and state.failing_accounts == []  # the good task still syncs


def test_an_account_none_of_whose_tasks_sync_is_named(make_task):
    fail_on_a_wrong_key(make_task(calls=3))

    [failing] = sync_health.sync_health().failing_accounts

    assert failing.name == "collections" and failing.polled_tasks == 1
    assert "sign error" in failing.error


def test_tasks_that_are_not_polled_do_not_count_against_sync_health(make_task):
    task = make_task(calls=3)
    Task.objects.filter(pk=task.pk).update(is_polled=False, last_sync_ok=False)

    state = sync_health.sync_health()

    assert (state.polled, state.failing, state.never_synced) == (0, 0, 0) and state.healthy


def test_a_polled_task_with_a_call_in_progress_past_the_limit_is_stuck(make_task, settings):
    settings.BLUDASH_STUCK_CALL_HOURS = 24
    stuck, recent, retired = (make_task(str(66547740 + n), calls=3) for n in range(3))
    now = timezone.now()
    Task.objects.filter(pk__in=[stuck.pk, retired.pk]).update(
        oldest_open_call_at=now - timedelta(hours=25)
    )
    Task.objects.filter(pk=recent.pk).update(oldest_open_call_at=now - timedelta(hours=23))
    Task.objects.filter(pk=retired.pk).update(is_polled=False)  # Blu no longer answers for it

    assert list(sync_health.stuck_tasks(now)) == [stuck]


def test_only_enabled_accounts_failing_n_syncs_in_a_row_are_flagged(account, settings):
    settings.BLUDASH_ACCOUNT_FAILURE_ALERT = 3
    BluAccount.objects.filter(pk=account.pk).update(consecutive_failures=2)
    assert sync_health.flagged_accounts() == []

    BluAccount.objects.filter(pk=account.pk).update(consecutive_failures=3)
    assert [a.name for a in sync_health.flagged_accounts()] == ["collections"]

    BluAccount.objects.filter(pk=account.pk).update(is_polled=False)
    assert sync_health.flagged_accounts() == []


def test_an_account_is_late_once_behind_by_more_than_a_quiet_poll_and_two_polls(account, settings):
    settings.BLUDASH_QUIET_POLL_SECONDS, settings.BLUDASH_POLL_SECONDS = 3600, 300
    now = timezone.now()
    BluAccount.objects.update(last_success_at=now - timedelta(minutes=69))
    [on_time] = sync_health.account_health(now)
    BluAccount.objects.update(last_success_at=now - timedelta(minutes=71))
    [late] = sync_health.account_health(now)

    assert on_time.behind == timedelta(minutes=69) and not on_time.late
    assert late.late and not late.flagged
