"""Which exports are built by a job rather than sent at once, and the job that is made for one."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from calls.dashboard import export
from calls.models import ExportJob


def runs_in_background(export_format: str, calls: QuerySet) -> bool:
    """Every XLSX (nothing of it can be sent before its last row is read, so a browser would wait
    on a blank tab), and a CSV of more than BLUDASH_EXPORT_BACKGROUND_ROWS rows. The count stops
    one past the limit: a big table is never counted whole on a request."""
    if export_format == export.XLSX:
        return True
    limit = settings.BLUDASH_EXPORT_BACKGROUND_ROWS
    return calls.order_by()[: limit + 1].count() > limit


def new_job(requester: Any, export_format: str, query: str) -> ExportJob:
    """A queued job for `requester`: the calls page's filters and sort as the query string."""
    return ExportJob.objects.create(requester=requester, format=export_format, query=query)
