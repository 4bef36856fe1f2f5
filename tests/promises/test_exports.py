"""The promises page's exports, as the calls page's: a CSV of up to BLUDASH_EXPORT_BACKGROUND_ROWS
promises at once, a bigger one and every XLSX by a background job whose page shows its progress,
whose file only its requester fetches (each download audited), named for the promises."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from calls.exports import jobs
from calls.models import AuditEvent, ExportJob
from tests.helpers import ZONE

URL = reverse("calls:promise_list")
_FORMAT = "%Y-%m-%d %H:%M:%S"


def _local(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(ZONE)).strftime(_FORMAT)


@pytest.fixture
def broken(call, settings):
    """Three broken promises (U1, U2, U3), their windows ended hours ago, and one due (U9)."""
    settings.BLUDASH_PROMISE_GRACE_HOURS = 1
    now = datetime.now(ZoneInfo(ZONE)).replace(microsecond=0)
    hour = timedelta(hours=1)
    for n in range(1, 4):
        window = [_local(now - (8 + n) * hour), _local(now - (3 + n) * hour)]
        call(f"b{n}", borrower=f"U{n}", at=_local(now - (9 + n) * hour), slot=window)
    call("d1", borrower="U9", at=_local(now - hour), slot=[_local(now - hour), _local(now + hour)])


def _export(client, export_format: str, **filters):
    return client.get(URL, {"state": "broken", **filters, "_export": export_format})


def test_a_csv_of_up_to_the_threshold_still_streams_at_once_named_for_promises(
    manager_client, broken, settings
):
    settings.BLUDASH_EXPORT_BACKGROUND_ROWS = 3

    response = _export(manager_client, "csv")

    assert response.status_code == 200 and response.streaming
    assert 'filename="bludash-promises-' in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert len(list(csv.DictReader(io.StringIO(body)))) == 3
    assert not ExportJob.objects.exists()


def test_a_csv_over_the_threshold_becomes_a_job_of_the_promises(
    manager_client, manager, broken, settings
):
    settings.BLUDASH_EXPORT_BACKGROUND_ROWS = 2

    response = _export(manager_client, "csv", task="7001")

    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert (job.requester, job.page, job.format, job.state) == (
        manager,
        "promises",
        "csv",
        "queued",
    )
    # The default period is spelt out from today: a job run tomorrow exports the same promises.
    today = timezone.localdate()
    assert f"ends_after={today - timedelta(days=7)}" in job.query
    assert f"ends_before={today + timedelta(days=7)}" in job.query
    assert "state=broken" in job.query and "task=7001" in job.query
    assert "_export" not in job.query
    assert not AuditEvent.objects.filter(action__startswith="export").exists()


@pytest.mark.parametrize("state", ["broken", "kept"])
def test_every_xlsx_of_promises_becomes_a_job_however_few_rows(manager_client, broken, state):
    response = _export(manager_client, "xlsx", state=state)

    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert (job.page, job.format) == ("promises", "xlsx")
    page = manager_client.get(response["Location"]).content.decode()
    assert "XLSX export of promises" in page
    assert f'href="{URL}?' in page  # back to the promises it exports, not to the calls


def test_the_job_writes_the_tabs_promises_and_its_requester_downloads_them_audited(
    manager_client, manager, broken, export_files
):
    _export(manager_client, "xlsx")
    job = jobs.run(ExportJob.objects.get().pk)
    assert job is not None and job.state == "done", job and job.error
    assert (job.rows_matched, job.rows_written) == (3, 3)
    assert job.file_name.startswith(f"{job.pk}-bludash-promises-")

    book = load_workbook(export_files / job.file_name, read_only=True)
    header, *rows = [list(row) for row in book.active.iter_rows(values_only=True)]
    book.close()
    assert sorted(row[header.index("Borrower")] for row in rows) == ["U1", "U2", "U3"]
    assert {row[header.index("State")] for row in rows} == {"broken"}

    response = manager_client.get(reverse("calls:export_download", args=[job.pk]))
    assert response.status_code == 200
    assert "bludash-promises-" in response["Content-Disposition"]
    assert b"".join(response.streaming_content).startswith(b"PK")  # a zip: the XLSX itself
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT_DOWNLOADED)
    assert (event.user, event.target, event.details["rows"]) == (manager, "promises", 3)


def test_someone_else_cannot_fetch_a_promises_export(client, admin_user, manager_client, broken):
    _export(manager_client, "xlsx")
    job = jobs.run(ExportJob.objects.get().pk)
    assert job is not None
    client.force_login(admin_user)
    assert client.get(reverse("calls:export_download", args=[job.pk])).status_code == 404


def test_staff_who_may_not_export_make_no_promises_job(staff_client, broken):
    assert _export(staff_client, "xlsx").status_code == 403
    assert not ExportJob.objects.exists()
