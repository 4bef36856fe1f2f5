"""A background export's pages: its progress (HTML and the JSON its script polls), the download
for the requester alone, audited each time, and what is said once the file has expired."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from calls.exports import background, expiry, jobs
from calls.models import AuditEvent, ExportJob
from tests.helpers import make_calls


def page_of(job: ExportJob) -> str:
    return reverse("calls:export_job", args=[job.pk])


def status_of(job: ExportJob) -> str:
    return reverse("calls:export_status", args=[job.pk])


def download_of(job: ExportJob) -> str:
    return reverse("calls:export_download", args=[job.pk])


@pytest.fixture
def queued(bare_task, manager) -> ExportJob:
    make_calls(bare_task, 5)
    return background.new_job(manager, "csv", "started_after=&sort=call_id")


@pytest.fixture
def done(queued) -> ExportJob:
    finished = jobs.run(queued.pk)
    assert finished is not None and finished.state == "done"
    return finished


def test_a_queued_job_shows_a_progress_bar_its_script_updates(manager_client, queued):
    page = manager_client.get(page_of(queued)).content.decode()

    assert f'data-export-status-url="{status_of(queued)}"' in page
    assert '<progress id="export-progress"' in page
    assert "Waiting for an export worker to start it." in page
    assert 'id="export-download" hidden' in page
    status = manager_client.get(status_of(queued)).json()
    assert status == {
        "state": "queued",
        "finished": False,
        "message": "Waiting for an export worker to start it.",
        "rows_matched": None,
        "rows_written": 0,
        "error": "",
        "download_url": None,
        "expires_at": None,
    }


def test_a_finished_job_shows_the_figures_and_the_download_link(manager_client, done):
    page = manager_client.get(page_of(done)).content.decode()

    assert "data-export-status-url" not in page  # nothing left to watch
    assert 'max="5" value="5"' in page
    assert "Done: 5 rows." in page
    assert f'href="{download_of(done)}"' in page
    status = manager_client.get(status_of(done)).json()
    assert (status["state"], status["rows_matched"], status["rows_written"]) == ("done", 5, 5)
    assert status["download_url"] == download_of(done)


def test_the_requester_downloads_the_file_and_each_download_is_audited(
    manager_client, manager, done
):
    for _ in range(2):
        response = manager_client.get(download_of(done))
        assert response.status_code == 200
        body = b"".join(response.streaming_content).decode("utf-8-sig")
        assert body.count("\n") == 6 and "c004" in body
        assert response["Content-Disposition"].startswith("attachment; filename=")

    events = AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT_DOWNLOADED)
    assert events.count() == 2
    event = events.first()
    assert event.user == manager and event.target == "calls"
    assert event.details == {
        "job": done.pk,
        "format": "csv",
        "filter": "started_after=&sort=call_id",
        "rows": 5,
    }


@pytest.mark.parametrize("url", [page_of, status_of, download_of])
def test_someone_else_is_told_the_job_does_not_exist(client, admin_user, done, url):
    client.force_login(admin_user)  # even an admin: the file is the requester's
    assert client.get(url(done)).status_code == 404
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT_DOWNLOADED).exists()


@pytest.mark.parametrize("url", [page_of, status_of, download_of])
def test_anonymous_visitors_are_sent_to_sign_in(client, done, url):
    response = client.get(url(done))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_job_unknown_is_not_found(manager_client, db):
    assert manager_client.get(reverse("calls:export_job", args=[999999])).status_code == 404


def test_after_expiry_the_link_says_expired_before_and_after_the_clean_up(
    manager_client, done, export_files
):
    ExportJob.objects.filter(pk=done.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    for _ in ("before the clean-up", "after it"):
        response = manager_client.get(download_of(done))
        assert response.status_code == 410
        page = response.content.decode()
        assert "This export has expired: files are kept for 24 hours." in page
        assert f'href="{download_of(done)}"' not in page
        assert manager_client.get(status_of(done)).json()["state"] == "expired"
        expiry.remove_expired()

    assert ExportJob.objects.get(pk=done.pk).state == "expired"
    assert list(export_files.rglob("*.csv")) == []
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT_DOWNLOADED).exists()


def test_a_failed_job_says_why_and_offers_no_file(manager_client, bare_task, manager):
    job = jobs.run(background.new_job(manager, "csv", "talk_min=abc").pk)
    assert job is not None

    page = manager_client.get(page_of(job)).content.decode()
    assert jobs.BAD_FILTERS.replace(":", ":") in page
    assert manager_client.get(download_of(job)).status_code == 409


def test_the_page_lists_the_requesters_other_recent_exports_only(
    manager_client, manager, admin_user, done
):
    other = background.new_job(manager, "xlsx", "")
    theirs = background.new_job(admin_user, "csv", "")

    page = manager_client.get(page_of(other)).content.decode()

    assert "Your other recent exports" in page
    assert f'href="{page_of(done)}"' in page
    assert f'href="{page_of(theirs)}"' not in page


def test_the_status_is_json_that_no_cache_keeps(manager_client, queued):
    response = manager_client.get(status_of(queued))
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    json.loads(response.content)


def test_a_file_removed_behind_our_back_is_gone_not_an_error(manager_client, done, export_files):
    (export_files / done.file_name).unlink()

    response = manager_client.get(download_of(done))

    assert response.status_code == 410
    assert "no longer in the export storage" in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT_DOWNLOADED).exists()


def test_a_storage_that_refuses_the_read_says_so_without_an_error_page(
    manager_client, done, export_files, settings
):
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {
            "BACKEND": "tests.exports.storages.DeniedOnRead",
            "OPTIONS": {"location": str(export_files)},
        },
    }

    response = manager_client.get(download_of(done))

    assert response.status_code == 503
    assert "export storage is not answering" in response.content.decode()
