"""Failures in a row, per task and per account: what the sync-health page shows and what flags an
account to admins once it has failed BLUDASH_ACCOUNT_FAILURE_ALERT syncs in a row."""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone

from .models import BluAccount, Task


def record_sync_outcome(task: Task, error: str) -> None:
    """Count a finished sync of `task`: a failure adds one in a row, a success starts over."""
    now = timezone.now()
    if error:
        Task.objects.filter(pk=task.pk).update(consecutive_failures=F("consecutive_failures") + 1)
        BluAccount.objects.filter(pk=task.account_id).update(
            consecutive_failures=F("consecutive_failures") + 1,
            last_failure_at=now,
            last_error=error[:2000],
        )
    else:
        Task.objects.filter(pk=task.pk).update(consecutive_failures=0)
        BluAccount.objects.filter(pk=task.account_id).update(
            consecutive_failures=0, last_success_at=now, failure_alert_sent_at=None
        )
