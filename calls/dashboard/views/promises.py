"""The promises page: due today, overdue, broken, kept (and the rest) with counts, filtered by
task, account and period of window ends; `?_export=csv|xlsx` for users who may export: a small
CSV at once, a big one and every XLSX by a background job, as on the calls page."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect, QueryDict
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from calls import tasks
from calls.dashboard import export, pagination, promises
from calls.dashboard.promise_tables import PromiseTable
from calls.exports import background
from calls.models import ExportJob
from calls.security import roles
from calls.security.access import DashboardView, no_access

EXPORT_PARAM = "_export"


def _job_query(chosen: promises.Filters) -> str:
    """The filters a job replays, every one spelt out: the default period counts from the day
    the export was asked for, not from the day a worker gets to it."""
    query = QueryDict(mutable=True)
    query["state"] = chosen.state
    if chosen.task is not None:
        query["task"] = chosen.task.blu_task_id
    if chosen.account is not None:
        query["account"] = chosen.account.name
    query["ends_after"] = chosen.since.isoformat()
    query["ends_before"] = chosen.until.isoformat()
    return query.urlencode()


class PromiseListView(DashboardView, TemplateView):
    permission_required = roles.VIEW_PROMISES
    template_name = "calls/promise_list.html"

    def get(self, request, *args, **kwargs):
        export_format = request.GET.get(EXPORT_PARAM)
        if export_format is None:
            return super().get(request, *args, **kwargs)
        if not request.user.has_perm(roles.EXPORT):
            return no_access(request, roles.EXPORT)
        if export_format not in export.FORMATS:
            messages.error(request, f"Cannot export as {export_format[:20]!r}: choose CSV or XLSX.")
            return HttpResponseRedirect(reverse("calls:promise_list"))
        chosen, _ = self._chosen()
        rows = promises.listed(chosen, timezone.now())
        query = request.GET.copy()
        query.pop(EXPORT_PARAM, None)
        back = HttpResponseRedirect(reverse("calls:promise_list"))
        if background.runs_in_background(export_format, rows):
            try:
                job = background.new_job(
                    request.user, export_format, _job_query(chosen), page=ExportJob.Page.PROMISES
                )
            except background.TooManyPending as exc:
                messages.error(request, str(exc))
                return back
            tasks.enqueue_export_on_commit(job.pk)
            return HttpResponseRedirect(job.get_absolute_url())
        done = export.audited(request, export_format, query.urlencode(), target="promises")
        try:
            return export.response(PromiseTable(rows), export_format, done, subject="promises")
        except export.TooManyRows as exc:
            messages.error(request, str(exc))
            return back

    def _chosen(self) -> tuple[promises.Filters, promises.PromiseFilterForm]:
        form = promises.PromiseFilterForm(self.request.GET or None)
        return promises.filters_of(form, timezone.localdate()), form

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        chosen, form = self._chosen()
        table = PromiseTable(promises.listed(chosen, now))
        pagination.paginate(table, self.request, default_size=promises.PAGE_ROWS)
        query = self.request.GET.copy()
        for name in ("state", "page", EXPORT_PARAM):
            query.pop(name, None)
        counts = promises.counts(chosen, now)
        context.update(
            form=form,
            errors=form.errors if form.is_bound else {},
            chosen=chosen,
            table=table,
            tabs=[
                (tab, label, promises.shown_count(counts[tab]))
                for tab, label in promises.TABS.items()
            ],
            query=query.urlencode(),
            can_export=self.request.user.has_perm(roles.EXPORT),
        )
        return context
