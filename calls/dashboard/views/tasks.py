"""The tasks table and a task's page."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.html import format_html
from django.views.generic import DetailView
from django_filters.views import FilterView

from calls.dashboard import kept_rate, kpis, pagination, summary_queries
from calls.dashboard.filters import TaskFilter, filter_errors
from calls.dashboard.tables import CallTable, TaskTable
from calls.dashboard.views.overview import LiveFragmentMixin
from calls.health import sync_health
from calls.models import TASKS_NEWEST_FIRST, CallRecord, Conclusion, Task, TaskDaySummary
from calls.security import roles
from calls.security.access import DashboardView

NO_TASKS = "No tasks yet: a manager registers the day's task ids on the Tasks page."
REGISTER_FIRST = 'No tasks yet: <a href="{}">register the day\'s task ids</a> to sync them.'
NO_MATCH = "No tasks match these filters."
BAD_FILTERS = "No tasks shown: the filters above could not be read."


class TaskListView(DashboardView, pagination.PagedTableMixin, FilterView):
    table_class = TaskTable
    filterset_class = TaskFilter
    template_name = "calls/task_list.html"
    # The table paginates; the list view must not paginate the rows a second time. Tasks are
    # few enough to count, and the page shows how many match.
    table_paginator_class = pagination.CountingPaginator

    def get_queryset(self):
        self.conclusions = Conclusion.by_code()
        # Most recently dialled first; tasks without calls yet at the end, on every database.
        tasks = Task.objects.select_related("account").order_by(*TASKS_NEWEST_FIRST)
        return summary_queries.with_rates(tasks)

    def get_table_kwargs(self) -> dict[str, Any]:
        form = self.filterset.form
        if not self.filterset.is_bound:
            empty = NO_TASKS
        elif not self.filterset.is_valid():
            empty = BAD_FILTERS
        elif any(value not in (None, "") for value in form.cleaned_data.values()):
            empty = NO_MATCH
        else:
            empty = NO_TASKS
        if empty == NO_TASKS and self.request.user.has_perm(roles.REGISTER_TASKS):
            empty = format_html(REGISTER_FIRST, reverse("calls:task_register"))
        return {"conclusions": self.conclusions, "empty_text": empty}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["health"] = sync_health.sync_health()
        context["filter_errors"] = filter_errors(self.filterset.form)
        context["sort"] = self.request.GET.get("sort", "")
        return context


class TaskDetailView(DashboardView, LiveFragmentMixin, pagination.PagedTableMixin, DetailView):
    model = Task
    table_class = CallTable
    template_name = "calls/task_detail.html"
    # The calls table walks the (task, -start_time) index and never counts.
    table_paginator_class = pagination.CallPaginator
    table_keyset = True

    def get_queryset(self):
        return Task.objects.select_related("account")

    def get_template_names(self) -> list[str]:
        # ?fragment=numbers: the facts, funnel and breakdown alone, for static/js/bludash.js to
        # swap in every few seconds (a callback's call shows without a reload).
        if self.request.GET.get("fragment") == "numbers":
            return [NUMBERS_FRAGMENT]
        return [self.template_name]

    def get_table_data(self):
        return CallRecord.objects.filter(task=self.object)

    def get_table_kwargs(self) -> dict[str, Any]:
        # Every row is this task's, on this task's account: those columns would say nothing.
        return {"exclude": ("task", "account")}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        task = self.object
        context.update(task_numbers(task))
        context["finished"] = kpis.Rate(
            task.calls_final, task.calls_total, "finished calls", "calls placed"
        )
        context["runs"] = task.sync_runs.all()[:10]
        return context


NUMBERS_FRAGMENT = "calls/_task_numbers.html"


def task_numbers(task: Task) -> dict[str, Any]:
    """The task's breakdown, funnel and KPIs from its summary rows (a few dozen), undated ones
    included: they add up to the task's totals on the tasks list."""
    rows = TaskDaySummary.objects.filter(task=task)
    numbers = numbers_from(task, summary_queries.code_totals(rows))
    numbers["undated"] = summary_queries.undated_calls(rows)
    numbers["kept_rate"] = kept_rate.for_task(task)
    return numbers


def numbers_from(task: Task, totals: list[kpis.CodeTotal]) -> dict[str, Any]:
    """The task page's numbers from its per-code totals, however they were counted."""
    conclusions = Conclusion.by_code()
    numbers = kpis.kpis(totals, conclusions)
    return {
        "kpis": numbers,
        "code_rows": kpis.breakdown(totals, conclusions),
        "funnel": kpis.funnel(numbers),
        "mix": kpis.mix({t.code: t.calls for t in totals}, conclusions),
    }
