"""The conclusion-code dictionary: labels and category flags, edited by managers."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.views.generic import TemplateView

from calls.conclusions.categories import FLAG_NAMES
from calls.dashboard.forms import ConclusionFormSet, display_order
from calls.ingest import summaries
from calls.models import Conclusion
from calls.security import roles
from calls.security.access import DashboardView, no_access


def save_conclusions(formset) -> tuple[int, int]:
    """Save the fields that changed from the page as shown (leaving what others changed since
    alone) and recompute every task's flag counts.
    Returns (conclusions saved, tasks whose rates changed)."""
    with transaction.atomic():
        # initial_forms: rows the page listed; a forged extra row adds nothing (edit_only).
        saved = [c for form in formset.initial_forms if (c := form.save_changes()) is not None]
        return len(saved), summaries.apply_conclusion_flags()


class ConclusionListView(DashboardView, TemplateView):
    """Everyone with the dashboard reads the dictionary; managers and admins edit it."""

    template_name = "calls/conclusions.html"

    def can_edit(self) -> bool:
        return self.request.user.has_perm(roles.EDIT_CONCLUSIONS)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        conclusions = display_order(Conclusion.objects.all())
        context["can_edit"] = self.can_edit()
        if context["can_edit"] and "formset" not in context:
            context["formset"] = ConclusionFormSet(queryset=conclusions)
        if not context["can_edit"]:
            context["rows"] = [
                {"conclusion": c, "flags": [getattr(c, flag) for flag in FLAG_NAMES]}
                for c in conclusions
            ]
        context["flags"] = [Conclusion._meta.get_field(flag) for flag in FLAG_NAMES]
        context["unclassified"] = Conclusion.objects.filter(classified=False).count()
        return context

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not self.can_edit():
            return no_access(request, roles.EDIT_CONCLUSIONS)
        formset = ConclusionFormSet(request.POST, queryset=display_order(Conclusion.objects.all()))
        if not formset.is_valid():
            messages.error(request, "Nothing was saved: correct the rows marked below.")
            return self.render_to_response(self.get_context_data(formset=formset))
        saved, tasks = save_conclusions(formset)
        if saved:
            messages.success(
                request,
                f"Saved {saved} conclusion{pluralize(saved)}; "
                f"rates updated for {tasks} task{pluralize(tasks)}.",
            )
        else:
            messages.info(request, "Nothing changed.")
        return redirect("calls:conclusions")
