"""What a job exports: the table of the page it was asked on (ExportJob.page), rebuilt from the
query string it stored, as that page showed it then."""

from __future__ import annotations

import django_tables2 as tables
from django.http import HttpRequest, QueryDict
from django.utils import timezone

from calls.dashboard import pagination, promises
from calls.dashboard.filters import CallFilter
from calls.dashboard.promise_tables import PromiseTable
from calls.dashboard.tables import CallTable
from calls.models import CallRecord, ExportJob

BAD_FILTERS = "The filters of this export could not be read any more: export again from the page."


class BadFilters(Exception):
    """The stored query no longer reads as the page's filters."""


def calls_table(job: ExportJob) -> CallTable:
    """The calls table as the page showed it when the export was asked for: filters and sort."""
    data = QueryDict(job.query)
    filterset = CallFilter(data, queryset=CallRecord.objects.all())
    if not filterset.is_valid():
        raise BadFilters(BAD_FILTERS)
    table = CallTable(filterset.qs)
    request = HttpRequest()
    request.GET = data
    pagination.sort(table, request)
    return table


def promises_table(job: ExportJob) -> PromiseTable:
    """The promises of the page's tab and filters, their states as they stood when the export
    was asked for (due today, overdue and broken move with the clock; the job may run later)."""
    asked = job.created_at
    form = promises.PromiseFilterForm(QueryDict(job.query))
    chosen = promises.filters_of(form, timezone.localdate(asked))
    return PromiseTable(promises.listed(chosen, asked))


def table_of(job: ExportJob) -> tables.Table:
    if job.page == ExportJob.Page.PROMISES:
        return promises_table(job)
    return calls_table(job)
