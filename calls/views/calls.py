"""The calls table across tasks, a call's page and its recording."""

from __future__ import annotations

from django_tables2 import LazyPaginator, SingleTableView

from ..access import DashboardView
from ..models import CallRecord
from ..tables import CallTable


class CallListView(DashboardView, SingleTableView):
    table_class = CallTable
    template_name = "calls/call_list.html"
    paginate_by = 50
    table_pagination = {"paginator_class": LazyPaginator}

    def get_queryset(self):
        return CallRecord.objects.select_related("task")


class CallDetailView(DashboardView):
    """Stub: every field of one call, its recording played inline, script and slots."""


def call_recording(request, pk: int):
    """Stub: checks the user's permission, then streams the recording from Blu."""
    raise NotImplementedError
