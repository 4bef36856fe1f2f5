"""The home page: today, 7 and 30 days across tasks, and the sync-health strip."""

from __future__ import annotations

from django.views.generic import TemplateView

from ..access import DashboardView


class OverviewView(DashboardView, TemplateView):
    template_name = "calls/overview.html"
