"""A user deleted takes their exports with them: the jobs and the files in the exports storage,
whatever state the jobs were in, while the audit log keeps what they did."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from calls.exports import background, jobs
from calls.models import AuditEvent, ExportJob
from tests.helpers import make_calls


def files(folder) -> list[str]:
    return sorted(path.name for path in folder.rglob("*") if path.is_file())


@pytest.fixture
def two_done(bare_task, manager, admin_user, manager_client):
    """A finished export of the manager's (downloaded once: audited) and one of the admin's."""
    make_calls(bare_task, 3)
    mine = jobs.run(background.new_job(manager, "csv", "started_after=").pk)
    theirs = jobs.run(background.new_job(admin_user, "xlsx", "started_after=").pk)
    assert mine and theirs and mine.state == theirs.state == "done"
    response = manager_client.get(reverse("calls:export_download", args=[mine.pk]))
    b"".join(response.streaming_content)
    return mine, theirs


def test_a_user_deleted_in_the_admin_takes_their_jobs_and_files_and_the_audit_log_stays(
    client, two_done, manager, export_files, django_capture_on_commit_callbacks
):
    mine, theirs = two_done
    background.new_job(manager, "csv", "")  # still queued: no file yet
    client.force_login(get_user_model().objects.create_superuser("root", password="x" * 20))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:auth_user_delete", args=[manager.pk]), {"post": "yes"}
        )

    assert response.status_code == 302
    assert not get_user_model().objects.filter(pk=manager.pk).exists()
    assert list(ExportJob.objects.values_list("pk", flat=True)) == [theirs.pk]
    assert files(export_files) == [theirs.file_name]
    downloaded = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT_DOWNLOADED)
    assert (downloaded.user, downloaded.username, downloaded.details["job"]) == (
        None,
        "manager",
        mine.pk,
    )


def test_a_deletion_rolled_back_keeps_the_file(
    two_done, manager, export_files, django_capture_on_commit_callbacks
):
    mine, _ = two_done
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        manager.delete()
        transaction.set_rollback(True)

    assert ExportJob.objects.filter(pk=mine.pk).exists()
    assert mine.file_name in files(export_files)


def test_a_job_whose_requester_went_before_a_worker_took_it_is_not_run(bare_task, manager):
    make_calls(bare_task, 2)
    job = background.new_job(manager, "csv", "started_after=")
    manager.delete()

    assert jobs.run(job.pk) is None


def test_a_requester_deleted_while_their_job_is_written_leaves_no_file(
    bare_task, manager, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {
            "BACKEND": "tests.exports.storages.RequesterDeletedOnSave",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    make_calls(bare_task, 3)
    job = background.new_job(manager, "csv", "started_after=")

    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.run(job.pk) is None

    assert not ExportJob.objects.exists()
    assert files(tmp_path) == []
