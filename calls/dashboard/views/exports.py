"""The pages of a background export: its progress (and, as JSON, for the page's script), the
download of its file, and the requester's recent exports. Each job is its requester's alone:
anyone else is answered 404, as for a job that does not exist."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, HttpRequest, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from calls.audit import trail
from calls.dashboard import export
from calls.models import ExportJob, export_storage
from calls.security import roles
from calls.security.access import no_access

logger = logging.getLogger(__name__)

RECENT = 10
STORAGE_DOWN = (
    "The export storage is not answering, so the file cannot be fetched now. Try again in a few"
    " minutes; if it goes on, tell an admin."
)
GONE = "The file of this export is no longer in the export storage. Export again from the {page}."


def job_for(request: HttpRequest, pk: int) -> ExportJob:
    """The job `pk` if it is the signed-in user's, else 404 (whether it exists is not told)."""
    return get_object_or_404(ExportJob, pk=pk, requester_id=request.user.pk)


def page_name(job: ExportJob) -> str:
    """The page an export was asked on, as a sentence names it."""
    return f"{job.get_page_display().lower()} page"


def _message(job: ExportJob, state: str) -> str:
    hours = settings.BLUDASH_EXPORT_KEEP_HOURS
    if state == ExportJob.State.QUEUED:
        return "Waiting for an export worker to start it."
    if state == ExportJob.State.RUNNING:
        return "Writing the rows. This page updates by itself; you may also leave and come back."
    if state == ExportJob.State.DONE:
        return f"Done: {job.rows_written:,} row{pluralize(job.rows_written)}."
    if state == ExportJob.State.EXPIRED:
        return (
            f"This export has expired: files are kept for {hours} hour{pluralize(hours)}. "
            f"Export again from the {page_name(job)}."
        )
    return job.error or "The export failed."


def status(job: ExportJob) -> dict[str, object]:
    """What the page shows of a job, as its script reads it."""
    expired = job.state == ExportJob.State.DONE and job.is_expired()
    state = ExportJob.State.EXPIRED.value if expired else job.state
    return {
        "state": state,
        "finished": job.finished,
        "message": _message(job, state),
        "rows_matched": job.rows_matched,
        "rows_written": job.rows_written,
        "error": job.error,
        "download_url": (
            reverse("calls:export_download", args=[job.pk])
            if job.state == ExportJob.State.DONE and not expired
            else None
        ),
        "expires_at": job.expires_at.isoformat() if job.expires_at else None,
    }


def _refused(request: HttpRequest) -> HttpResponseBase | None:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not request.user.has_perm(roles.EXPORT):
        return no_access(request, roles.EXPORT)
    return None


@require_GET
@never_cache
def export_job(request: HttpRequest, pk: int) -> HttpResponseBase:
    if refused := _refused(request):
        return refused
    job = job_for(request, pk)
    recent = ExportJob.objects.filter(requester_id=request.user.pk).exclude(pk=job.pk)[:RECENT]
    return render(
        request,
        "calls/export_job.html",
        {
            "job": job,
            "status": status(job),
            "recent": [(other, status(other)) for other in recent],
            "poll_url": reverse("calls:export_status", args=[job.pk]),
        },
    )


@require_GET
@never_cache
def export_status(request: HttpRequest, pk: int) -> HttpResponseBase:
    if refused := _refused(request):
        return refused
    return JsonResponse(status(job_for(request, pk)))


def _job_page(
    request: HttpRequest, job: ExportJob, current: dict[str, object], code: int
) -> HttpResponseBase:
    context = {"job": job, "status": current, "recent": [], "poll_url": ""}
    return render(request, "calls/export_job.html", context, status=code)


@require_GET
def export_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The job's file, once per request audited; an expired or unfinished job's page instead,
    saying so (410 when expired)."""
    if refused := _refused(request):
        return refused
    job = job_for(request, pk)
    current = status(job)
    if current["download_url"] is None:
        code = 410 if current["state"] == ExportJob.State.EXPIRED else 409
        return _job_page(request, job, current, code)
    try:
        file = export_storage().open(job.file_name, "rb")
    except FileNotFoundError:
        # Removed behind our back (by hand, by a bucket's own expiry rule): as good as expired.
        message = GONE.format(page=page_name(job))
        current.update(state=ExportJob.State.EXPIRED.value, download_url=None, message=message)
        return _job_page(request, job, current, 410)
    except Exception:
        # A bucket refusing the read (permissions, an outage): the file may still be there.
        logger.exception("The export storage could not open export job %s's file", job.pk)
        current.update(download_url=None, message=STORAGE_DOWN)
        return _job_page(request, job, current, 503)
    response = FileResponse(
        file,
        as_attachment=True,
        filename=export.filename(job.format, job.finished_at, subject=job.page),
    )
    trail.record(
        trail.Action.EXPORT_DOWNLOADED,
        request,
        target=job.page,
        job=job.pk,
        format=job.format,
        filter=job.query,
        rows=job.rows_written,
    )
    return response
