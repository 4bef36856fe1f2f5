"""The complaints pages, for those who handle them (Managers): the list by state with each
complaint's age, and one complaint with its call's recording and script, where a manager
acknowledges, assigns, notes and resolves it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from calls.contact import complaints
from calls.dashboard import call_details
from calls.models import Complaint
from calls.security import roles
from calls.security.access import DashboardView

PAGE_ROWS = 50
# The tabs: open (new or acknowledged) first, as the work to do.
TABS = {"open": "Open", "new": "New", "acknowledged": "Acknowledged", "resolved": "Resolved"}


def _listed(tab: str):
    found = Complaint.objects.select_related("borrower", "call", "assignee")
    if tab == "open":
        return found.filter(state__in=Complaint.OPEN_STATES)
    return found.filter(state=tab)


class ComplaintListView(DashboardView, TemplateView):
    permission_required = (roles.MANAGE_COMPLAINTS, roles.VIEW_DASHBOARD)
    template_name = "calls/complaint_list.html"

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        tab = self.request.GET.get("state", "open")
        if tab not in TABS:
            tab = "open"
        counts = {
            state: Complaint.objects.filter(state=state).count() for state in Complaint.State.values
        }
        counts["open"] = counts["new"] + counts["acknowledged"]
        page = Paginator(_listed(tab), PAGE_ROWS).get_page(self.request.GET.get("page"))
        context.update(
            tab=tab,
            tabs=[(name, label, counts[name]) for name, label in TABS.items()],
            page=page,
            now=timezone.now(),
        )
        return context


class ComplaintDetailView(DashboardView, TemplateView):
    permission_required = (roles.MANAGE_COMPLAINTS, roles.VIEW_DASHBOARD)
    template_name = "calls/complaint_detail.html"

    def _complaint(self) -> Complaint:
        return get_object_or_404(
            Complaint.objects.select_related("borrower", "assignee", "call__account", "call__task"),
            pk=self.kwargs["pk"],
        )

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        complaint = self._complaint()
        people = get_user_model().objects.filter(pk__in=complaints.assignable_ids())
        context.update(
            complaint=complaint,
            call=complaint.call,
            states=Complaint.State.choices,
            people=people.order_by("username"),
            history=complaints.history(complaint),
            max_note=complaints.MAX_NOTE,
            **call_details.call_context(complaint.call, with_raw=False),
        )
        return context

    def post(self, request, *args, **kwargs):
        complaint = self._complaint()
        assignee = request.POST.get("assignee", "").strip()
        if assignee and not (assignee.isascii() and assignee.isdigit()):
            messages.error(request, "Choose who handles it from the list.")
            return HttpResponseRedirect(request.path)
        wanted = complaints.Change(
            state=request.POST.get("state", complaint.state),
            assignee_id=int(assignee) if assignee else None,
            note=request.POST.get("note", complaint.note).replace("\r\n", "\n").strip(),
        )
        try:
            changed = complaints.change(complaint, wanted, request)
        except complaints.BadChange as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(request.path)
        if changed:
            messages.success(
                request, f"Complaint {complaint.pk} is {complaint.get_state_display().lower()}."
            )
        else:
            messages.info(request, "Nothing changed.")
        return HttpResponseRedirect(reverse("calls:complaint_detail", kwargs={"pk": complaint.pk}))
