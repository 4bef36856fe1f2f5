"""The tasks table and a task's page."""

from __future__ import annotations

import logging

from django.views.generic import DetailView
from django_tables2 import LazyPaginator, SingleTableMixin, SingleTableView

from ..access import DashboardView
from ..models import CallRecord, Conclusion, Task
from ..tables import CallTable, TaskTable

logger = logging.getLogger(__name__)


class TaskListView(DashboardView, SingleTableView):
    model = Task
    table_class = TaskTable
    template_name = "calls/task_list.html"
    paginate_by = 50

    def get_queryset(self):
        return Task.objects.select_related("account").order_by("-first_seen_at", "-pk")


class TaskDetailView(DashboardView, SingleTableMixin, DetailView):
    model = Task
    table_class = CallTable
    template_name = "calls/task_detail.html"
    paginate_by = 50
    table_pagination = {"paginator_class": LazyPaginator}

    def get_queryset(self):
        return Task.objects.select_related("account")

    def get_table_data(self):
        return CallRecord.objects.filter(task=self.object).select_related("task")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["runs"] = self.object.sync_runs.all()[:10]
        counts = self.object.code_counts
        labels = dict(Conclusion.objects.filter(code__in=list(counts)).values_list("code", "label"))
        finished = sum(counts.values()) or 1
        context["code_rows"] = [
            {
                "code": code,
                "label": labels.get(code, code),
                "count": count,
                "share": 100 * count / finished,
            }
            for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ]
        return context
