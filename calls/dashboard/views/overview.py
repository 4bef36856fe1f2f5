"""The home page: today, 7 and 30 days across tasks, and the sync-health strip."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.utils.cache import add_never_cache_headers
from django.views.generic import TemplateView

from calls.dashboard import kept_rate, kpis, summary_queries
from calls.health import sync_health
from calls.models import Conclusion, Task, TaskDaySummary
from calls.security.access import DashboardView

# ?fragment=numbers renders the numbers alone: what static/js/bludash.js fetches to refresh them.
FRAGMENTS = {"numbers": "calls/_overview_numbers.html"}


def overview_numbers() -> dict[str, Any]:
    """The periods' KPIs and the per-day chart from one grouped query over TaskDaySummary."""
    today = summary_queries.company_today()
    first = today - timedelta(days=kpis.CHART_DAYS - 1)
    numbers = numbers_from(summary_queries.day_code_totals(first, today), first, today)
    numbers["undated"] = summary_queries.undated_calls(TaskDaySummary.objects.all())
    numbers["kept_rates"] = kept_rate.for_spans((p.first, p.last) for p in numbers["periods"])
    return numbers


def numbers_from(rows: list[tuple[date, kpis.CodeTotal]], first: date, today: date) -> dict:
    """The overview's numbers from per-day, per-code totals, however they were counted."""
    conclusions = Conclusion.by_code()
    periods = kpis.periods(rows, today, conclusions)
    return {
        "today": today,
        "periods": periods,
        "month": periods[-1],
        "chart": kpis.daily_mix(rows, first, today, conclusions),
        "has_tasks": Task.objects.exists(),
    }


class LiveFragmentMixin:
    """Fragments are fetched every few seconds: never serve one from a cache."""

    def render_to_response(self, context, **response_kwargs):
        response = super().render_to_response(context, **response_kwargs)  # type: ignore[misc]
        add_never_cache_headers(response)
        return response


class OverviewView(DashboardView, LiveFragmentMixin, TemplateView):
    template_name = "calls/overview.html"

    def fragment(self) -> str | None:
        return FRAGMENTS.get(self.request.GET.get("fragment", ""))

    def get_template_names(self) -> list[str]:
        return [self.fragment() or self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(overview_numbers())
        if not self.fragment():
            context["health"] = sync_health.sync_health()
        return context


class SyncHealthView(DashboardView, LiveFragmentMixin, TemplateView):
    """The sync-health strip alone, fetched every few seconds by static/js/bludash.js."""

    template_name = "calls/_sync_health.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["health"] = sync_health.sync_health()
        return context
