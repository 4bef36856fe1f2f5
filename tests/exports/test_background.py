"""Which exports are sent at once and which become a job: a CSV up to
BLUDASH_EXPORT_BACKGROUND_ROWS rows streams, a bigger one and every XLSX go to a job's page."""

from __future__ import annotations

import pytest
from django.urls import reverse

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
