"""A background export's run: the exact rows of the calls page's filters and order, its progress
recorded every so many rows, one run per job, and failures that say why and leave no file."""

from __future__ import annotations

import csv
import io
import re

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from bludash.celery import app
from calls import tasks
from calls.dashboard import export
from calls.exports import background, jobs
from calls.models import CallRecord, ExportJob
from tests.helpers import make_calls, wait_for

HEADER_ROWS = 1


def csv_of(path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))


def xlsx_of(path) -> list[list]:
    book = load_workbook(path, read_only=True)
    try:
        return [list(row) for row in book.active.iter_rows(values_only=True)]
    finally:
        book.close()


def stored(export_files, job: ExportJob):
    return export_files / job.file_name


def job_of(user, export_format: str, query: str) -> ExportJob:
    return background.new_job(user, export_format, query)


def test_a_csv_job_writes_exactly_the_filtered_rows_in_the_pages_order(
    bare_task, manager, export_files
):
    make_calls(bare_task, 40)
    CallRecord.objects.filter(duration__lt=10).update(code="PTP")
    job = job_of(manager, "csv", "started_after=&talk_min=5&sort=-duration")

    done = jobs.run(job.pk)

    assert done is not None and done.state == "done", done and done.error
    rows = csv_of(stored(export_files, done))
    assert [row[0] for row in rows[HEADER_ROWS:]] == [f"c{n:03d}" for n in range(39, 4, -1)]
    assert (done.rows_matched, done.rows_written) == (35, 35)
    assert done.finished_at and done.expires_at and done.expires_at > done.finished_at


def test_an_xlsx_job_holds_the_same_rows_and_keeps_formulas_inert(bare_task, manager, export_files):
    make_calls(bare_task, 3, name="=HYPERLINK(1)")
    job = jobs.run(job_of(manager, "xlsx", "started_after=&sort=call_id").pk)

    assert job is not None and job.state == "done"
    assert job.file_name.endswith(".xlsx")
    rows = xlsx_of(stored(export_files, job))
    assert [row[0] for row in rows[HEADER_ROWS:]] == ["c000", "c001", "c002"]
    book = load_workbook(stored(export_files, job))
    assert book.active["E2"].data_type == "s" and book.active["E2"].quotePrefix


@pytest.mark.parametrize("export_format", ["csv", "xlsx"])
def test_rows_written_are_recorded_every_so_many_rows_not_per_row(
    bare_task, manager, settings, export_format
):
    settings.BLUDASH_EXPORT_PROGRESS_ROWS = 500
    CallRecord.objects.bulk_create(
        CallRecord(account=bare_task.account, task=bare_task, call_id=f"b{n:04d}", raw={}, status=2)
        for n in range(1100)
    )
    job = job_of(manager, export_format, "started_after=")

    with CaptureQueriesContext(connection) as queries:
        done = jobs.run(job.pk)

    progress = [
        int(found.group(1))
        for query in queries.captured_queries
        if query["sql"].startswith('UPDATE "calls_exportjob"')
        and (found := re.search(r'SET "rows_written" = (\d+)', query["sql"]))
    ]
    assert progress == [500, 1000]
    assert done is not None and (done.rows_matched, done.rows_written) == (1100, 1100)


def test_the_row_writers_tell_their_progress_every_so_many_rows(bare_task):
    make_calls(bare_task, 25)
    from tests.dashboard.test_export import table_for

    told: list[int] = []
    written = export.write_xlsx(table_for({"started_after": ""}), io.BytesIO(), told.append, 10)
    assert (written, told) == (25, [10, 20])


def test_a_job_is_run_once_however_often_its_message_arrives(bare_task, manager):
    make_calls(bare_task, 2)
    job = job_of(manager, "csv", "started_after=")

    assert jobs.run(job.pk) is not None
    assert jobs.run(job.pk) is None
    assert jobs.run(job.pk, redelivered=False) is None


def test_a_job_its_dead_worker_left_running_is_run_again_on_redelivery(bare_task, manager):
    make_calls(bare_task, 2)
    job = job_of(manager, "csv", "started_after=")
    assert jobs.claim(job.pk)  # the worker that then died

    assert jobs.run(job.pk) is None
    again = jobs.run(job.pk, redelivered=True)
    assert again is not None and again.state == "done" and again.rows_written == 2


def test_a_file_the_storage_cannot_take_fails_the_job_and_leaves_no_half_file(
    bare_task, manager, settings, tmp_path, caplog
):
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {
            "BACKEND": "tests.exports.storages.FullDisk",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    make_calls(bare_task, 30)

    job = jobs.run(job_of(manager, "csv", "started_after=").pk)

    assert job is not None and job.state == "failed"
    assert job.error.startswith("The file was written but could not be stored (OSError).")
    assert "BLUDASH_EXPORT_STORAGE_BACKEND" in job.error
    assert not job.file_name
    assert list(tmp_path.rglob("*.csv")) == []
    assert "No space left on device" in caplog.text  # the details are in the worker's log


def test_the_writer_of_an_xlsx_job_refuses_more_rows_than_excel_holds_saying_what_to_do(
    bare_task, manager
):
    # The job records this message as its failure (run() turns TooManyRows into one).
    make_calls(bare_task, 3)
    table = jobs.table_of(job_of(manager, "xlsx", "started_after="))
    with pytest.raises(export.TooManyRows, match="export CSV instead"):
        export.write_xlsx(table, io.BytesIO(), max_rows=2)


def test_filters_that_no_longer_read_fail_the_job_with_a_way_out(bare_task, manager):
    job = jobs.run(job_of(manager, "csv", "talk_min=abc").pk)
    assert job is not None and job.state == "failed" and job.error == jobs.BAD_FILTERS


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("role_groups")  # the manager's group, after an earlier test's flush
def test_a_real_worker_on_redis_builds_the_job_from_the_exports_queue(
    bare_task, manager, export_files
):
    make_calls(bare_task, 12)
    app.control.purge()
    job = job_of(manager, "csv", "started_after=&sort=call_id")

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        tasks.enqueue_export_on_commit(job.pk)  # outside a transaction: queued at once
        assert wait_for(lambda: ExportJob.objects.get(pk=job.pk).finished)

    job.refresh_from_db()
    assert job.state == "done", job.error
    rows = csv_of(stored(export_files, job))
    assert [row[0] for row in rows[HEADER_ROWS:]] == [f"c{n:03d}" for n in range(12)]
    assert (job.rows_matched, job.rows_written) == (12, 12)


def test_a_storage_that_is_no_folder_serves_the_same_file_by_settings_alone(
    manager_client, manager, bare_task, settings
):
    # What an S3 bucket is to the code: a storage reached through Django's storage API only.
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    make_calls(bare_task, 4)
    job = jobs.run(job_of(manager, "csv", "started_after=&sort=call_id").pk)
    assert job is not None and job.state == "done", job and job.error

    response = manager_client.get(reverse("calls:export_download", args=[job.pk]))

    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert [row[0] for row in csv.reader(io.StringIO(body))][1:] == [f"c00{n}" for n in range(4)]
