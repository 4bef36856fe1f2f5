"""The conclusion-code dictionary: labels and category flags, edited by managers."""

from __future__ import annotations

from django.views.generic import TemplateView

from ..access import DashboardView


class ConclusionListView(DashboardView, TemplateView):
    template_name = "calls/conclusions.html"
