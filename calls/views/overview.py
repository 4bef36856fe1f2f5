"""The home page: today, 7 and 30 days across tasks, and the sync-health strip."""

from __future__ import annotations

from django.views.generic import TemplateView

from ..access import DashboardView


class OverviewView(DashboardView, TemplateView):
    template_name = "calls/overview.html"


class SyncHealthView(DashboardView, TemplateView):
    """Stub: the sync-health strip alone, fetched every few seconds by static/js/bludash.js."""

    template_name = "calls/_sync_health.html"
