"""Expired exports: the hourly job removes their files and marks them, gives up on jobs that never
finished, and is in beat's schedule from the first migrate."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from calls.exports import background, expiry, jobs
from calls.models import ExportJob
from calls.seed import EXPIRE_EXPORTS_TASK_NAME
from tests.helpers import make_calls


def test_the_clean_up_is_in_beats_schedule_after_migrate(db):
    clean_up = PeriodicTask.objects.get(name=EXPIRE_EXPORTS_TASK_NAME)
    assert clean_up.task == "calls.tasks.expire_exports" and clean_up.enabled
    assert clean_up.interval.every == 3600


def test_expired_files_are_removed_and_their_jobs_marked_and_fresh_ones_kept(
    bare_task, manager, export_files, settings
):
    settings.BLUDASH_EXPORT_KEEP_HOURS = 2
    make_calls(bare_task, 3)
    old = jobs.run(background.new_job(manager, "csv", "started_after=").pk)
    fresh = jobs.run(background.new_job(manager, "xlsx", "started_after=").pk)
    assert old and fresh and old.state == fresh.state == "done"
    old_path = export_files / old.file_name

    assert expiry.remove_expired().removed == 0  # both kept for two hours yet
    ExportJob.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    result = expiry.remove_expired()

    assert result.removed == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.state, old.file_name) == ("expired", "")
    assert not old_path.exists()
    assert fresh.state == "done" and (export_files / fresh.file_name).exists()


def test_a_job_that_never_finished_is_given_up_on_after_the_keeping_time(
    bare_task, manager, settings
):
    settings.BLUDASH_EXPORT_KEEP_HOURS = 3
    stuck = background.new_job(manager, "csv", "")
    jobs.claim(stuck.pk)
    waiting = background.new_job(manager, "csv", "")

    assert expiry.remove_expired(now=timezone.now() + timedelta(hours=1)).abandoned == 0
    result = expiry.remove_expired(now=timezone.now() + timedelta(hours=3, minutes=1))

    assert result.abandoned == 2
    for job in (stuck, waiting):
        job.refresh_from_db()
        assert job.state == "failed" and "did not finish within 3 hours" in job.error
