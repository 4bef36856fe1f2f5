"""One export job's run: its page's filters replayed (sources.py), the rows written in chunks to a
temporary file with the progress recorded as it goes, then the whole file handed to the exports
storage. A job that fails says why and leaves no file behind, half or whole."""

from __future__ import annotations

import logging
import tempfile
from datetime import timedelta

import django_tables2 as tables
from django.conf import settings
from django.core.files import File
from django.utils import timezone

from calls.dashboard import export
from calls.exports import sources
from calls.models import ExportJob, export_storage

logger = logging.getLogger(__name__)

State = ExportJob.State
# What the requester reads when something unforeseen stopped the job: the details are in the
# worker's log, never on the page (they may name servers or buckets).
UNEXPECTED = (
    "The export stopped on an unexpected error ({kind}). Try again; if it fails again, an "
    "administrator will find the details in the export worker's log."
)
NOT_STORED = (
    "The file was written but could not be stored ({kind}). Try again; if it fails again, an "
    "administrator should check the export storage (BLUDASH_EXPORT_STORAGE_BACKEND)."
)
BAD_FILTERS = sources.BAD_FILTERS


class ExportFailed(Exception):
    """A failure whose message is for the requester."""


def claim(job_pk: int, *, redelivered: bool = False) -> bool:
    """Whether this run takes the job: one conditional UPDATE, so two runs never build one job.
    A redelivered message (its worker died mid-run) takes a job left running, and starts over."""
    states = [State.QUEUED, State.RUNNING] if redelivered else [State.QUEUED]
    return bool(
        ExportJob.objects.filter(pk=job_pk, state__in=states).update(
            state=State.RUNNING, started_at=timezone.now(), rows_written=0, error=""
        )
    )


def table_of(job: ExportJob) -> tables.Table:
    """The table the job exports, as its page showed it when the export was asked for."""
    try:
        return sources.table_of(job)
    except sources.BadFilters as exc:
        raise ExportFailed(str(exc)) from exc


def run(job_pk: int, *, redelivered: bool = False) -> ExportJob | None:
    """Build the job's file; the job as it ended, or None when another run has it (or it is no
    longer queued). Failures are recorded on the job, not raised: its page shows them."""
    if not claim(job_pk, redelivered=redelivered):
        return None
    job = ExportJob.objects.filter(pk=job_pk).first()
    if job is None:  # its requester was deleted meanwhile, and their jobs with them
        return None
    try:
        _build(job)
    except (ExportFailed, export.TooManyRows) as exc:  # messages written for the requester
        _fail(job, str(exc))
    except Exception as exc:
        logger.exception("Export job %s failed", job.pk)
        _fail(job, UNEXPECTED.format(kind=type(exc).__name__))
    # None when its requester was deleted while it ran: _build removed the file it made.
    return ExportJob.objects.filter(pk=job_pk).first()


def _progress(job_pk: int):
    def told(rows: int) -> None:
        ExportJob.objects.filter(pk=job_pk, state=State.RUNNING).update(rows_written=rows)

    return told


def _build(job: ExportJob) -> None:
    table = table_of(job)
    matched = table.data.data.order_by().count()
    ExportJob.objects.filter(pk=job.pk).update(rows_matched=matched)
    write = export.WRITERS[job.format]
    storage = export_storage()
    with tempfile.TemporaryFile(suffix=f".{job.format}") as file:
        written = write(
            table, file, progress=_progress(job.pk), every=settings.BLUDASH_EXPORT_PROGRESS_ROWS
        )
        file.seek(0)
        # The name is fixed before the upload so that a failed one can be deleted by it. No
        # folder per job: a folder would stay behind when its file is removed.
        name = storage.get_available_name(
            f"{job.pk}-{export.filename(job.format, subject=job.page)}"
        )
        try:
            name = storage.save(name, File(file, name=name))
        except Exception as exc:
            logger.exception("Export job %s: the file could not be stored", job.pk)
            _delete_quietly(storage, name)
            raise ExportFailed(NOT_STORED.format(kind=type(exc).__name__)) from exc
    now = timezone.now()
    finished = ExportJob.objects.filter(pk=job.pk, state=State.RUNNING).update(
        state=State.DONE,
        file_name=name,
        rows_matched=written,
        rows_written=written,
        finished_at=now,
        expires_at=now + timedelta(hours=settings.BLUDASH_EXPORT_KEEP_HOURS),
    )
    if not finished:
        # Given up on meanwhile (expiry.py fails jobs that never finish), or its requester was
        # deleted with their jobs: nobody will fetch it.
        _delete_quietly(storage, name)


def _fail(job: ExportJob, message: str) -> None:
    ExportJob.objects.filter(pk=job.pk).update(
        state=State.FAILED, error=message, finished_at=timezone.now(), file_name=""
    )


def _delete_quietly(storage, name: str) -> None:
    try:
        storage.delete(name)
    except Exception:
        logger.exception("Could not delete the export file %s", name)
