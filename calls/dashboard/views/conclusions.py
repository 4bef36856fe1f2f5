"""The conclusion-code dictionary: labels and category flags, edited by managers, a page of codes
at a time. Callbacks may bring codes by the thousand (each account only so many a day, but they
add up): one form of every code would post more fields than Django accepts
(DATA_UPLOAD_MAX_NUMBER_FIELDS) and fail the save whole."""

from __future__ import annotations

from typing import cast
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.generic import TemplateView

from calls import tasks
from calls.conclusions.categories import FLAG_NAMES
from calls.dashboard.forms import CODES_PER_PAGE, ConclusionFormSet, display_order
from calls.ingest import summaries
from calls.models import Conclusion
from calls.security import roles
from calls.security.access import DashboardView, no_access

SEARCH_CHARS = 64  # a code is at most 64 characters; a label longer than that finds nothing new


def save_conclusions(formset) -> tuple[int, int]:
    """Save the fields that changed from the page as shown (leaving what others changed since
    alone) and recompute every task's flag counts; a change to a flag the promises, complaints
    or contact limits are made from queues their rebuild once saved (tasks.rebuilds_for).
    Returns (conclusions saved, tasks whose rates changed)."""
    with transaction.atomic():
        # initial_forms: rows the page listed; a forged extra row adds nothing (edit_only).
        saved = [c for form in formset.initial_forms if (c := form.save_changes()) is not None]
        tasks.enqueue_rebuilds_on_commit(
            (form.instance, form.changed_data) for form in formset.initial_forms
        )
        return len(saved), summaries.apply_conclusion_flags()


def posted_ids(data: QueryDict) -> list[int]:
    """The ids of the rows a page posted, at most a page's worth: the only codes a save loads."""
    try:
        total = min(int(data.get("form-TOTAL_FORMS", "")), CODES_PER_PAGE)
    except ValueError:
        return []
    values = (data.get(f"form-{n}-id", "") for n in range(total))
    return [int(value) for value in values if value.isascii() and value.isdigit()]


class ConclusionListView(DashboardView, TemplateView):
    """Everyone with the dashboard reads the dictionary; managers and admins edit it."""

    template_name = "calls/conclusions.html"

    def can_edit(self) -> bool:
        return self.request.user.has_perm(roles.EDIT_CONCLUSIONS)

    def search(self) -> str:
        return (self.request.GET.get("q") or "").strip()[:SEARCH_CHARS]

    def listed(self) -> QuerySet[Conclusion]:
        conclusions = Conclusion.objects.all()
        if query := self.search():
            conclusions = conclusions.filter(Q(code__icontains=query) | Q(label__icontains=query))
        return display_order(conclusions)

    def page(self) -> Page:
        # get_page shows the last page for a number past the end, the first for one that is no
        # number: a link that outlived its page still shows codes.
        return Paginator(self.listed(), CODES_PER_PAGE).get_page(self.request.GET.get("page"))

    def this_page_url(self) -> str:
        """This page of the dictionary, as the URL names it (page and search alone)."""
        kept = {key: self.request.GET[key] for key in ("page", "q") if self.request.GET.get(key)}
        query = urlencode(kept)
        return reverse("calls:conclusions") + (f"?{query}" if query else "")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page = self.page()
        # A page of a queryset is a sliced queryset: what the formset takes.
        shown = cast(QuerySet[Conclusion], page.object_list)
        context["can_edit"] = self.can_edit()
        if context["can_edit"] and "formset" not in context:
            context["formset"] = ConclusionFormSet(queryset=shown)
        if not context["can_edit"]:
            context["rows"] = [
                {"conclusion": c, "flags": [getattr(c, flag) for flag in FLAG_NAMES]} for c in shown
            ]
        context["page"] = page
        context["search"] = self.search()
        context["action"] = self.this_page_url()
        context["flags"] = [Conclusion._meta.get_field(flag) for flag in FLAG_NAMES]
        context["unclassified"] = Conclusion.objects.filter(classified=False).count()
        return context

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not self.can_edit():
            return no_access(request, roles.EDIT_CONCLUSIONS)
        # The rows this page showed, by id: the page's place in the order may have moved since
        # (someone classified a code), its rows have not.
        shown = Conclusion.objects.filter(pk__in=posted_ids(request.POST))
        formset = ConclusionFormSet(request.POST, queryset=shown)
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
        return redirect(self.this_page_url())
