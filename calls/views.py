"""Pages and the Blu callback endpoint. Views stay thin: the work is in sync.py and callbacks.py."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django.views.generic import DetailView
from django_tables2 import LazyPaginator, SingleTableMixin, SingleTableView

from . import callbacks
from .models import BluAccount, CallRecord, Conclusion, Task
from .tables import CallTable, TaskTable

logger = logging.getLogger(__name__)


class TaskListView(LoginRequiredMixin, SingleTableView):
    model = Task
    table_class = TaskTable
    template_name = "calls/task_list.html"
    paginate_by = 50

    def get_queryset(self):
        return Task.objects.select_related("account").order_by("-first_seen_at", "-pk")


class TaskDetailView(LoginRequiredMixin, SingleTableMixin, DetailView):
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


class CallListView(LoginRequiredMixin, SingleTableView):
    table_class = CallTable
    template_name = "calls/call_list.html"
    paginate_by = 50
    table_pagination = {"paginator_class": LazyPaginator}

    def get_queryset(self):
        return CallRecord.objects.select_related("task")


@csrf_exempt
@require_POST
def blu_callback(request: HttpRequest, token: str) -> HttpResponse:
    """Blu's dial-result callback. Blu signs nothing: the unguessable token is the only key."""
    account = get_object_or_404(BluAccount, callback_token=token)
    declared = request.headers.get("Content-Length", "")
    limit = settings.BLUDASH_CALLBACK_MAX_BYTES
    if declared.isdigit() and int(declared) > limit:
        return JsonResponse({"code": 413, "message": f"body over {limit} bytes"}, status=413)
    body = request.read(limit + 1)
    if len(body) > limit:
        return JsonResponse({"code": 413, "message": f"body over {limit} bytes"}, status=413)
    try:
        result = callbacks.receive(account, body)
    except callbacks.BadCallback as exc:
        logger.info("Refused a callback for account %s: %s", account.name, exc)
        return JsonResponse({"code": 400, "message": str(exc)}, status=400)
    return JsonResponse(
        {"code": 200, "message": "success", "created": result.created, "changed": result.changed}
    )
