"""The calls table across tasks, a call's page and its recording."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponseBase,
    HttpResponseRedirect,
    QueryDict,
)
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.generic import DetailView
from django_filters.views import FilterView

from calls import tasks
from calls.audit import trail
from calls.dashboard import call_details, export, keyset, pagination, recordings
from calls.dashboard.filters import CALLS_DEFAULT_DAYS, CallFilter, filter_errors
from calls.dashboard.recordings import is_recording_url
from calls.dashboard.tables import CallTable
from calls.exports import background
from calls.models import CallRecord
from calls.security import roles
from calls.security.access import DashboardView, no_access

logger = logging.getLogger(__name__)

EXPORT_PARAM = "_export"
NO_CALLS_YET = "No calls yet: a manager registers the day's tasks, and their calls fill this table."
NO_MATCH = "No calls match these filters."
# Django refuses to redirect to a longer URL; no real set of filters comes near it.
MAX_BACK_QUERY = 8000


def _query(data: QueryDict, **changes: str) -> str:
    """The filters as a query string, without paging or export, with `changes` applied."""
    query = data.copy()
    for name in (*keyset.PAGING_PARAMS, EXPORT_PARAM):
        query.pop(name, None)
    for name, value in changes.items():
        query[name] = value
    return query.urlencode()


def _recorded_filter(data: QueryDict, table: CallTable) -> str:
    """The filters an export applied, as a query string: no paging or sorting, which change
    neither which calls nor how many."""
    query = data.copy()
    noise = (
        *keyset.PAGING_PARAMS,
        EXPORT_PARAM,
        table.prefixed_order_by_field,
        table.prefixed_per_page_field,
    )
    for name in noise:
        query.pop(name, None)
    return query.urlencode()


class CallListView(DashboardView, pagination.PagedTableMixin, FilterView):
    """The calls of every task. `?_export=csv|xlsx` returns the filtered rows as a file instead,
    for users with roles.EXPORT: a small CSV at once, a big one and every XLSX by a background
    job whose page the user is sent to (calls/exports/)."""

    table_class = CallTable
    filterset_class = CallFilter
    template_name = "calls/call_list.html"
    # Not paginate_by: ListView would then page object_list a second time with Django's own
    # Paginator, which counts every matching row. The table pages itself, never counting.
    paginate_by = None
    table_paginator_class = pagination.CallPaginator
    table_keyset = True

    def get_queryset(self):
        return CallRecord.objects.all()

    def get(self, request, *args, **kwargs):
        export_format = request.GET.get(EXPORT_PARAM)
        if export_format is None:
            if keyset.ON_OR_BEFORE in request.GET and "started_after" not in request.GET:
                # A jump to a date looks back: the default range (the last week) would hide
                # what it jumps to. Said in the URL, so the form and every link keep it.
                query = request.GET.copy()
                query["started_after"] = ""
                return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
            return super().get(request, *args, **kwargs)
        return self.exported(export_format)

    def exported(self, export_format: str) -> HttpResponseBase:
        """The export file, or back to the page with a message saying why there is none."""
        request = self.request
        if not request.user.has_perm(roles.EXPORT):
            return no_access(request, roles.EXPORT)
        # Refusals go back to the page without `_export`, so its links do not export again.
        # An absolute path, never a bare "?": a client that is no browser resolves that against
        # the export URL itself and asks for the export again, round and round.
        query = _query(request.GET)
        page = reverse("calls:call_list")
        back = HttpResponseRedirect(
            f"{page}?{query}" if query and len(query) <= MAX_BACK_QUERY else page
        )
        if export_format not in export.FORMATS:
            shown = export_format[:20]
            messages.error(request, f"Cannot export as {shown!r}: choose CSV or XLSX.")
            return back
        filterset = self.get_filterset(self.get_filterset_class())
        if not filterset.is_valid():
            messages.error(request, "Nothing was exported: correct the filters first.")
            return back
        if background.runs_in_background(export_format, filterset.qs):
            try:
                job = background.new_job(request.user, export_format, _query(filterset.data))
            except background.TooManyPending as exc:
                messages.error(request, str(exc))
                return back
            tasks.enqueue_export_on_commit(job.pk)
            return HttpResponseRedirect(job.get_absolute_url())
        table = self.get_table_class()(filterset.qs)
        pagination.sort(table, request)
        done = export.audited(request, export_format, _recorded_filter(filterset.data, table))
        try:
            return export.response(table, export_format, done)
        except export.TooManyRows as exc:
            messages.error(request, str(exc))
            return back

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset: CallFilter = context["filter"]
        table: CallTable = context["table"]
        errors = filter_errors(filterset.form)
        if not table.page.object_list:
            # Only an empty page pays for asking whether any call exists at all.
            nothing_yet = not errors and not CallRecord.objects.exists()
            table.empty_text = NO_CALLS_YET if nothing_yet else NO_MATCH
            context["nothing_yet"] = nothing_yet
        context.update(
            filter_errors=errors,
            code_groups=filterset.code_groups(),
            default_range=filterset.default_range,
            default_days=CALLS_DEFAULT_DAYS,
            all_dates_query=_query(filterset.data, started_after=""),
            sort=self.request.GET.get(table.prefixed_order_by_field, ""),
        )
        if self.request.user.has_perm(roles.EXPORT):
            context["export_queries"] = {
                fmt: _query(filterset.data, **{EXPORT_PARAM: fmt}) for fmt in export.FORMATS
            }
            context["export_background_rows"] = f"{settings.BLUDASH_EXPORT_BACKGROUND_ROWS:,}"
        return context


class CallDetailView(DashboardView, DetailView):
    model = CallRecord
    template_name = "calls/call_detail.html"
    context_object_name = "call"

    def get_queryset(self):
        return CallRecord.objects.select_related("task", "account", "borrower", "limit_breach")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        with_raw = self.request.user.has_perm(roles.VIEW_RAW)
        context.update(call_details.call_context(self.object, with_raw=with_raw))
        return context


# GET only: HEAD would fetch from Blu for headers alone, unaudited (it plays nothing), and a
# media player never sends it. It is answered 405 (Allow: GET) without fetching anything.
@require_GET
@login_required
def call_recording(request: HttpRequest, pk: int) -> HttpResponseBase:
    """A call's recording, for users who may see calls: streamed from Blu so that the recording
    link itself never leaves the server."""
    if not request.user.has_perm(roles.VIEW_DASHBOARD):
        return no_access(request)
    call = get_object_or_404(CallRecord.objects.select_related("account", "task"), pk=pk)
    if not is_recording_url(call.record_url):
        raise Http404("This call has no recording.")
    response = recordings.stream_recording(
        call.record_url, recordings.allowed_hosts(call.account), request.headers.get("Range", "")
    )
    # Once per play: the further ranges a player fetches while playing are not new plays.
    if recordings.starts_a_play(response, request.user.pk, call.pk):
        trail.record(
            trail.Action.RECORDING_PLAYED,
            request,
            target=f"call {call.call_id}",
            call_id=call.call_id,
            task=call.task.blu_task_id,
            account=call.account.name,
        )
    return response
