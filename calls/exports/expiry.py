"""Expired exports: their files removed, their jobs marked so; and jobs that never finished
(their worker gone for good) given up on, so that their pages stop waiting."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from calls.models import ExportJob, export_storage

logger = logging.getLogger(__name__)

State = ExportJob.State
GAVE_UP = (
    "The export did not finish within {hours} hours (its worker may have stopped). Export again "
    "from its page."
)


@dataclass
class Expired:
    removed: int  # files removed
    abandoned: int  # unfinished jobs given up on


def remove_expired(now: datetime | None = None) -> Expired:
    """Remove the files of finished jobs past their expiry and mark those jobs expired; fail the
    jobs still queued or running after as long as a file is kept."""
    now = now or timezone.now()
    removed = 0
    for job in ExportJob.objects.filter(state=State.DONE, expires_at__lte=now).iterator():
        if job.file_name:
            try:
                export_storage().delete(job.file_name)
            except Exception:
                # Kept as done, so the next run tries again; its page already says expired.
                logger.exception("Could not remove the expired export file of job %s", job.pk)
                continue
        removed += ExportJob.objects.filter(pk=job.pk, state=State.DONE).update(
            state=State.EXPIRED, file_name=""
        )
    hours = settings.BLUDASH_EXPORT_KEEP_HOURS
    abandoned = ExportJob.objects.filter(
        state__in=[State.QUEUED, State.RUNNING], created_at__lte=now - timedelta(hours=hours)
    ).update(state=State.FAILED, error=GAVE_UP.format(hours=hours), finished_at=now)
    return Expired(removed=removed, abandoned=abandoned)
