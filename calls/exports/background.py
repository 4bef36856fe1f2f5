"""Which exports are built by a job rather than sent at once, and the job that is made for one:
at most BLUDASH_EXPORT_MAX_PENDING of a user's jobs queued or running at a time."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.template.defaultfilters import pluralize

from calls.dashboard import export
from calls.models import ExportJob


class TooManyPending(Exception):
    """The requester has as many exports waiting or running as one may; the message says so."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Nothing was exported: you already have {limit} export{pluralize(limit)} waiting or "
            "running, as many as one person may. Wait for one to finish (its page shows how far "
            "it got), then export again."
        )
        self.limit = limit


def runs_in_background(export_format: str, rows: QuerySet) -> bool:
    """Every XLSX (nothing of it can be sent before its last row is read, so a browser would wait
    on a blank tab), and a CSV of more than BLUDASH_EXPORT_BACKGROUND_ROWS rows. The count stops
    one past the limit: a big table is never counted whole on a request."""
    if export_format == export.XLSX:
        return True
    limit = settings.BLUDASH_EXPORT_BACKGROUND_ROWS
    return rows.order_by()[: limit + 1].count() > limit


def pending(requester: Any) -> QuerySet[ExportJob]:
    return ExportJob.objects.filter(requester_id=requester.pk, state__in=ExportJob.PENDING)


def new_job(
    requester: Any, export_format: str, query: str, page: str = ExportJob.Page.CALLS
) -> ExportJob:
    """A queued job for `requester`: `page`'s filters and sort as the query string; or
    TooManyPending, with nothing made, when the requester already has as many waiting or
    running as BLUDASH_EXPORT_MAX_PENDING allows."""
    limit = settings.BLUDASH_EXPORT_MAX_PENDING
    with transaction.atomic():
        # The requester's row is the lock: two clicks at once are counted one after the other,
        # so neither can pass the count the other is about to raise.
        get_user_model().objects.select_for_update().filter(pk=requester.pk).first()
        if pending(requester).count() >= limit:
            raise TooManyPending(limit)
        return ExportJob.objects.create(
            requester=requester, page=page, format=export_format, query=query
        )
