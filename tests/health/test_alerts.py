"""Failures in a row and the email to admins when an account reaches
BLUDASH_ACCOUNT_FAILURE_ALERT of them: once per streak, to every admin, never with the key."""

from __future__ import annotations

import logging
import smtplib
import threading

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connections
from django.urls import reverse

from bludash.celery import app
from calls.health import alerts
from calls.ingest import sync
from calls.models import BluAccount, Task
from calls.security import roles
from calls.tasks import email_failure_alert
from tests.helpers import (
    APP_KEY,
    PASSWORD,
    account_without_blu,
    alert_jobs_run_here,
    fail_syncs,
    start_and_join,
    wait_for,
)

N = 3


@pytest.fixture(autouse=True)
def alert_at_n(settings):
    settings.BLUDASH_ACCOUNT_FAILURE_ALERT = N
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.BLUDASH_PUBLIC_URL = "https://bludash.example.com"


@pytest.fixture
def task(make_task):
    return make_task(calls=3)


def failing(sandbox, task: Task, times: int) -> None:
    """`times` syncs of `task` while Blu answers it with an error code, and the jobs they queue."""
    with alert_jobs_run_here():
        fail_syncs(sandbox, task, times, message="merchant suspended")


def account() -> BluAccount:
    return BluAccount.objects.get(name="collections")


def test_the_nth_failure_in_a_row_emails_the_admins_once(sandbox, task):
    failing(sandbox, task, N - 1)
    assert mail.outbox == []

    failing(sandbox, task, 1)
    assert len(mail.outbox) == 1

    failing(sandbox, task, 1)
    assert len(mail.outbox) == 1 and account().consecutive_failures == N + 1


def test_a_success_starts_a_new_streak_that_emails_again(sandbox, task):
    failing(sandbox, task, N)
    sync.sync_task(task)
    assert account().consecutive_failures == 0 and account().failure_alert_sent_at is None

    failing(sandbox, task, N - 1)
    assert len(mail.outbox) == 1
    failing(sandbox, task, 1)
    assert len(mail.outbox) == 2


def test_failures_of_different_tasks_of_one_account_count_together(sandbox, make_task):
    tasks = [make_task(str(66547740 + n), calls=3) for n in range(N)]

    for each in tasks:
        failing(sandbox, each, 1)

    assert len(mail.outbox) == 1
    assert [t.consecutive_failures for t in Task.objects.all()] == [1] * N


def test_the_email_names_the_account_and_n_and_gives_blus_message_and_the_page(sandbox, task):
    failing(sandbox, task, N)

    [email] = mail.outbox
    assert "collections" in email.subject and f"{N} syncs in a row" in email.subject
    assert "code 5000: merchant suspended" in email.body
    assert "https://bludash.example.com" + reverse("calls:health") in email.body
    everything = email.subject + email.body + str(email.message())
    assert APP_KEY not in everything and account().callback_token not in everything


def test_an_alert_after_one_failure_says_one_sync(sandbox, task, settings):
    settings.BLUDASH_ACCOUNT_FAILURE_ALERT = 1
    failing(sandbox, task, 1)
    (email,) = mail.outbox
    assert email.subject.endswith("Blu account collections failed 1 sync in a row")
    assert "could not sync Blu account collections 1 time in a row." in email.body


def test_the_email_goes_to_settings_admins_and_every_active_admin_with_an_address_once(
    sandbox, task, admin_user, staff_user, manager
):
    users = get_user_model().objects
    admins = Group.objects.get(name=roles.ADMINS)
    admin_user.email = "Boss@example.com"
    admin_user.save()
    for name, email, active in [
        ("twin", "ops@example.com", True),  # also in ADMINS
        ("gone", "gone@example.com", False),
        ("silent", "", True),
    ]:
        users.create_user(name, email, PASSWORD, is_active=active).groups.add(admins)
    granted = users.create_user("granted", "granted@example.com", PASSWORD)
    app_label, codename = roles.MANAGE_ACCOUNTS.split(".")
    granted.user_permissions.add(
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
    )
    for person in (staff_user, manager):
        person.email = f"{person.username}@example.com"
        person.save()

    failing(sandbox, task, N)

    [email] = mail.outbox
    assert email.to == ["ops@example.com", "Boss@example.com", "granted@example.com"]


def test_with_nobody_to_email_the_sync_goes_on_and_the_next_failure_tries_again(
    sandbox, task, settings, caplog
):
    settings.ADMINS = []
    failing(sandbox, task, N)
    assert mail.outbox == [] and account().failure_alert_sent_at is None
    assert "no admin has an email address" in caplog.text

    settings.ADMINS = [("Ops", "ops@example.com")]
    failing(sandbox, task, 1)
    assert len(mail.outbox) == 1 and account().failure_alert_sent_at is not None


class BrokenMailServer(BaseEmailBackend):
    """An SMTP server that hangs up, whose reply quotes what it was sent."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPDataError(554, f"rejected: {email_messages[0].body}".encode())


def test_a_failure_to_send_fails_no_sync_marks_nothing_sent_and_logs_no_secret(
    sandbox, task, settings, caplog
):
    settings.EMAIL_BACKEND = f"{__name__}.BrokenMailServer"
    caplog.set_level(logging.INFO)

    failing(sandbox, task, N)  # each sync fails with Blu's error, not the mail server's

    assert account().failure_alert_sent_at is None
    assert "Could not email the admins" in caplog.text and "SMTPDataError" in caplog.text
    logged = [r.getMessage() for r in caplog.records if r.name == alerts.__name__]
    assert not [line for line in logged if "rejected" in line or APP_KEY in line]

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    failing(sandbox, task, 1)
    assert len(mail.outbox) == 1


class MailServerThatMustNotBeCalled(BaseEmailBackend):
    """Records every send: a sync that emails inline would hold for EMAIL_TIMEOUT on a server
    that hangs."""

    sends: list[str] = []

    def send_messages(self, email_messages):
        self.sends.extend(message.subject for message in email_messages)
        return len(email_messages)


def test_the_sync_only_claims_the_email_and_a_job_of_its_own_sends_it(
    sandbox, task, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = f"{__name__}.MailServerThatMustNotBeCalled"
    MailServerThatMustNotBeCalled.sends = []

    with django_capture_on_commit_callbacks() as queued:  # held back, not run
        fail_syncs(sandbox, task, N, message="merchant suspended")

    assert MailServerThatMustNotBeCalled.sends == []
    claimed = account().failure_alert_sent_at
    assert claimed is not None and len(queued) == 1

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert email_failure_alert.run(account().pk, claimed.isoformat()) == "sent"
    assert len(mail.outbox) == 1


def test_an_account_that_recovered_before_the_job_ran_is_not_reported(
    sandbox, task, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        fail_syncs(sandbox, task, N, message="merchant suspended")
    claimed = account().failure_alert_sent_at
    sync.sync_task(task)  # Blu answers again before a worker got to the email

    assert email_failure_alert.run(account().pk, claimed.isoformat()) == "not sent"
    assert mail.outbox == []


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_on_redis_sends_the_email_the_sync_claimed(sandbox, task):
    app.control.purge()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        fail_syncs(sandbox, task, N, message="merchant suspended")
        assert wait_for(lambda: len(mail.outbox) == 1)
    assert "failed 3 syncs in a row" in mail.outbox[0].subject


@pytest.mark.django_db(transaction=True)
def test_workers_finishing_failures_at_once_send_one_email():
    account = account_without_blu("busy")
    tasks = [Task.objects.create(account=account, blu_task_id=str(n)) for n in range(8)]
    BluAccount.objects.filter(pk=account.pk).update(consecutive_failures=N - 1)
    start = threading.Barrier(len(tasks))
    errors: list[BaseException] = []

    def finish(task: Task) -> None:
        try:
            start.wait(timeout=10)
            alerts.record_sync_outcome(task, "Blu queryCallResult: code 5000: down")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=finish, args=(t,)) for t in tasks]
    with alert_jobs_run_here():
        start_and_join(threads)

    assert not errors and not any(t.is_alive() for t in threads)
    assert BluAccount.objects.get(pk=account.pk).consecutive_failures == N - 1 + len(tasks)
    assert len(mail.outbox) == 1
