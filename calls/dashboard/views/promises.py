"""The promises page: due today, overdue, broken, kept (and the rest) with counts, filtered by
task, account and period of window ends; `?_export=csv|xlsx` for users who may export."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from calls.dashboard import export, pagination, promises
from calls.dashboard.promise_tables import PromiseTable
from calls.security import roles
from calls.security.access import DashboardView, no_access

EXPORT_PARAM = "_export"


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
        table = PromiseTable(promises.listed(chosen, timezone.now()))
        query = request.GET.copy()
        query.pop(EXPORT_PARAM, None)
        done = export.audited(request, export_format, query.urlencode(), target="promises")
        try:
            return export.response(table, export_format, done)
        except export.TooManyRows as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(reverse("calls:promise_list"))

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
