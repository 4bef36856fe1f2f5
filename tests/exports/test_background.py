"""Which exports are sent at once and which become a job: a CSV up to
BLUDASH_EXPORT_BACKGROUND_ROWS rows streams, a bigger one and every XLSX go to a job's page; at
most BLUDASH_EXPORT_MAX_PENDING of a user's jobs wait or run at once."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from calls.exports import background
from calls.models import AuditEvent, ExportJob
from tests.helpers import make_calls

URL = reverse("calls:call_list")


@pytest.fixture
def ten_calls(bare_task, settings):
    settings.BLUDASH_EXPORT_BACKGROUND_ROWS = 10
    make_calls(bare_task, 10)
    return bare_task


def test_a_csv_of_up_to_the_threshold_streams_at_once_and_makes_no_job(manager_client, ten_calls):
    response = manager_client.get(URL, {"started_after": "", "_export": "csv"})

    assert response.status_code == 200 and response.streaming
    assert len(b"".join(response.streaming_content).splitlines()) == 11
    assert not ExportJob.objects.exists()


def test_a_csv_over_the_threshold_becomes_a_job_of_the_requester(
    manager_client, manager, ten_calls, settings
):
    settings.BLUDASH_EXPORT_BACKGROUND_ROWS = 9
    params = {"started_after": "", "sort": "name", "_export": "csv"}

    response = manager_client.get(URL, params)

    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert (job.requester, job.format, job.state) == (manager, "csv", "queued")
    assert "sort=name" in job.query and "_export" not in job.query
    # Nothing has left yet: the download is what is audited.
    assert not AuditEvent.objects.filter(action__startswith="export").exists()


@pytest.mark.parametrize("count", [0, 1])
def test_every_xlsx_becomes_a_job_however_few_rows(manager_client, bare_task, count):
    make_calls(bare_task, count)

    response = manager_client.get(URL, {"_export": "xlsx"})

    assert response.status_code == 302
    assert ExportJob.objects.get().format == "xlsx"


def test_the_calls_page_says_which_exports_are_built_in_the_background(manager_client, ten_calls):
    page = manager_client.get(URL).content.decode()
    assert "A CSV of up to 10 calls downloads at once" in page


def test_staff_who_may_not_export_make_no_job(staff_client, ten_calls):
    response = staff_client.get(URL, {"_export": "xlsx"})
    assert response.status_code == 403 and not ExportJob.objects.exists()


def test_over_the_cap_of_waiting_exports_a_clear_message_and_nothing_queued(
    manager_client, manager, ten_calls, settings
):
    settings.BLUDASH_EXPORT_MAX_PENDING = 2
    background.new_job(manager, "csv", "started_after=")
    running = background.new_job(manager, "xlsx", "started_after=")
    ExportJob.objects.filter(pk=running.pk).update(state=ExportJob.State.RUNNING)

    response = manager_client.get(URL, {"started_after": "", "_export": "xlsx"}, follow=True)

    assert ExportJob.objects.count() == 2
    assert response.redirect_chain[-1][0].startswith(URL)  # back to the calls page
    page = html.unescape(response.content.decode())
    assert "Nothing was exported: you already have 2 exports waiting or running" in page


def test_finished_exports_and_other_peoples_do_not_count_towards_the_cap(
    manager_client, manager, admin_user, ten_calls, settings
):
    settings.BLUDASH_EXPORT_MAX_PENDING = 1
    ExportJob.objects.create(requester=manager, format="csv", state=ExportJob.State.DONE)
    ExportJob.objects.create(requester=manager, format="csv", state=ExportJob.State.FAILED)
    background.new_job(admin_user, "csv", "")

    response = manager_client.get(URL, {"_export": "xlsx"})

    assert response.status_code == 302
    assert ExportJob.objects.filter(requester=manager, state="queued").count() == 1


def test_the_cap_is_held_by_the_job_maker_itself(manager, db, settings):
    settings.BLUDASH_EXPORT_MAX_PENDING = 1
    background.new_job(manager, "csv", "")
    with pytest.raises(background.TooManyPending, match="1 export waiting or running"):
        background.new_job(manager, "csv", "")
    assert ExportJob.objects.count() == 1


def test_the_promises_page_holds_the_same_cap(manager_client, manager, db, settings):
    settings.BLUDASH_EXPORT_MAX_PENDING = 1
    background.new_job(manager, "csv", "")

    response = manager_client.get(reverse("calls:promise_list"), {"_export": "xlsx"}, follow=True)

    assert ExportJob.objects.count() == 1
    assert "you already have 1 export waiting or running" in html.unescape(
        response.content.decode()
    )
