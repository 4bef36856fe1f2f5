"""Failures in a row, per task and per account: what the sync-health page shows and what flags an
account to admins once it has failed BLUDASH_ACCOUNT_FAILURE_ALERT syncs in a row. Reaching that
number also emails the admins, once per streak of failures, from a job of its own: the sync only
claims the email and says so (`failure_alert_due`); calls.tasks queues the job that sends it, so a
mail server that hangs for EMAIL_TIMEOUT never holds a sync."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import F
from django.dispatch import Signal
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone

from calls.models import BluAccount, Task
from calls.security import recipients, roles

logger = logging.getLogger(__name__)

# Sent with account_id and claimed_at when this process has claimed an account's failure email.
# Its receiver (calls.tasks) queues `send_failure_alert` once the claim is committed.
failure_alert_due = Signal()


def record_sync_outcome(task: Task, error: str, blu_failed: bool = True) -> None:
    """Count a finished sync of `task`: a failure adds one in a row, a success starts over.

    The task counts every failure; its account only Blu's own (`blu_failed`: Blu's answers, its
    timeouts), so our own faults (a lost lease, our database, an unreadable key) never flag an
    account or email the admins about Blu. They leave the account's streak as it was.
    """
    now = timezone.now()
    if error:
        Task.objects.filter(pk=task.pk).update(consecutive_failures=F("consecutive_failures") + 1)
        if not blu_failed:
            return
        BluAccount.objects.filter(pk=task.account_id).update(
            consecutive_failures=F("consecutive_failures") + 1,
            last_failure_at=now,
            last_error=error[:2000],
        )
        alert_if_due(task.account_id, now)
    else:
        Task.objects.filter(pk=task.pk).update(consecutive_failures=0)
        BluAccount.objects.filter(pk=task.account_id).update(
            consecutive_failures=0, last_success_at=now, failure_alert_sent_at=None
        )


def alert_if_due(account_id: int, now: datetime) -> bool:
    """Claim the admins' email if this account has just reached the alert threshold and nobody
    has claimed it in this streak yet, and announce the claim. Returns whether it was claimed.

    Two workers finishing failures at once both get here: the conditional UPDATE's row count
    says which one claims. Nothing here talks to a mail server."""
    threshold = settings.BLUDASH_ACCOUNT_FAILURE_ALERT
    due = BluAccount.objects.filter(
        pk=account_id, failure_alert_sent_at__isnull=True, consecutive_failures__gte=threshold
    )
    if not due.update(failure_alert_sent_at=now):
        return False
    failure_alert_due.send(sender=BluAccount, account_id=account_id, claimed_at=now)
    return True


def send_failure_alert(account_id: int, claimed_at: datetime) -> bool:
    """Send the email claimed at `claimed_at`. Returns whether it went out.

    Sent only while that claim stands: an account that synced again since has ended the streak,
    and there is nothing left to tell. A failed send gives the claim back, so the account's next
    failure tries again."""
    account = BluAccount.objects.filter(pk=account_id, failure_alert_sent_at=claimed_at).first()
    if account is None:
        return False
    threshold = settings.BLUDASH_ACCOUNT_FAILURE_ALERT
    try:
        sent = _send_alert(account, threshold)
    except Exception as exc:  # any mail trouble
        # The exception's class only: an SMTP reply may quote what was sent.
        logger.error(
            "Could not email the admins that Blu account %s failed %d syncs in a row: %s",
            account.name,
            threshold,
            type(exc).__name__,
        )
        sent = False
    if not sent:
        release_claim(account_id, claimed_at)
    return sent


def release_claim(account_id: int, claimed_at: datetime) -> None:
    """Give back an email claim that was not sent, so the next failure claims it again."""
    BluAccount.objects.filter(pk=account_id, failure_alert_sent_at=claimed_at).update(
        failure_alert_sent_at=None
    )


def admin_recipients() -> list[str]:
    """settings.ADMINS, then every active user who may manage Blu accounts (the Admins group,
    or the right granted alone) and has an email address; each address once."""
    addresses = [entry if isinstance(entry, str) else entry[1] for entry in settings.ADMINS]
    return recipients.addresses_of_users_who_may(roles.MANAGE_ACCOUNTS, also=addresses)


def _send_alert(account: BluAccount, threshold: int) -> bool:
    recipients = admin_recipients()
    if not recipients:
        logger.warning(
            "Blu account %s failed %d sync%s in a row, and no admin has an email address to "
            "tell (set ADMINS or give an admin an email address)",
            account.name,
            threshold,
            pluralize(threshold),
        )
        return False
    health_url = settings.BLUDASH_PUBLIC_URL + reverse("calls:health")
    # The account's stored error is our own message around Blu's: it never holds the app key.
    body = (
        f"bludash could not sync Blu account {account.name} {threshold} "
        f"time{pluralize(threshold)} in a row.\n\n"
        f"Last error:\n{account.last_error or '(no message)'}\n\n"
        f"Sync health: {health_url}\n\n"
        "You get one email per run of failures: the next comes after the account has synced "
        "successfully and then failed again.\n"
    )
    subject = (
        f"{settings.EMAIL_SUBJECT_PREFIX}Blu account {account.name} failed {threshold} "
        f"sync{pluralize(threshold)} in a row"
    )
    message = EmailMessage(subject, body, to=recipients)
    return message.send() > 0
