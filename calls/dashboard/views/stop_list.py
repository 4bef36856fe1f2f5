"""The stop list: who must not be called next and why, with how many each reason stops, and
the CSV (key, orderId, reason, since) managers leave out of the next upload."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from calls.audit import trail
from calls.contact import stop_list
from calls.dashboard.export import runs_as_formula
from calls.models import AuditEvent
from calls.security import roles
from calls.security.access import DashboardView, no_access

PAGE_ROWS = 100


def _cell(text: str) -> str:
    # A key or orderId is the lender's text: one a spreadsheet would run goes behind an
    # apostrophe, as in every export (calls/dashboard/export.py).
    return "'" + text if runs_as_formula(text) else text


class StopListView(DashboardView, TemplateView):
    permission_required = (roles.VIEW_BORROWERS, roles.VIEW_DASHBOARD)
    template_name = "calls/stop_list.html"

    def _reason(self) -> str | None:
        chosen = self.request.GET.get("reason") or None
        return chosen if chosen and stop_list.reason_named(chosen) else None

    def get(self, request, *args, **kwargs):
        if request.GET.get("_export") is None:
            return super().get(request, *args, **kwargs)
        if not request.user.has_perm(roles.EXPORT):
            return no_access(request, roles.EXPORT)
        if request.GET["_export"] != "csv":
            messages.error(request, "The stop list is exported as CSV.")
            return HttpResponseRedirect(reverse("calls:stop_list"))
        now = timezone.now()
        entries = stop_list.stopped(stop_list.reasons_of(None, now), self._reason())
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime(now).strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="stop-list-{stamp}.csv"'
        # Every text field quoted and a byte order mark, as the other exports (Excel and ";").
        response.write("\ufeff")
        writer = csv.writer(response, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(["key", "orderId", "reason", "since"])
        for entry in entries:
            writer.writerow(
                [
                    _cell(entry.borrower.key),
                    _cell(entry.borrower.order_id),
                    entry.reason_labels,
                    timezone.localtime(entry.since).isoformat(timespec="seconds"),
                ]
            )
        trail.record(
            AuditEvent.Action.STOP_LIST_EXPORTED,
            request,
            target="stop list",
            reason=self._reason() or "",
            rows=len(entries),
        )
        return response

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        found = stop_list.reasons_of(None, now)
        chosen = self._reason()
        entries = stop_list.stopped(found, chosen)
        context.update(
            counts=stop_list.counts(found),
            total=len(found),
            chosen=chosen,
            page=Paginator(entries, PAGE_ROWS).get_page(self.request.GET.get("page")),
            can_export=self.request.user.has_perm(roles.EXPORT),
        )
        return context
