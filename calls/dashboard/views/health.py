"""The admins' sync-health page: every account and polled task, how far behind, what failed."""

from __future__ import annotations

from django.utils import timezone
from django.views.generic import TemplateView

from calls.dashboard import pagination
from calls.dashboard.health_tables import (
    AccountHealthTable,
    StuckTaskTable,
    TaskHealthTable,
    UnknownTaskTable,
)
from calls.health import sync_health
from calls.models import BluAccount, FigureCheck
from calls.security import roles
from calls.security.access import DashboardView

# Stuck tasks should be few; past this many the page says how many more there are.
STUCK_SHOWN = 50
# So should tasks Blu does not know; a flood of made-up ones is capped per hour, but adds up.
UNKNOWN_SHOWN = 50


def unpaged(table, request):
    """A table shown whole. With its request set, render_table leaves it alone: configured from
    the URL there (or by passing request= to the table), django-tables2 would page it by
    whatever ?per_page says, before any bound applies (?per_page=-1 was a 500)."""
    table.request = request
    return table


class HealthView(DashboardView, TemplateView):
    permission_required = roles.MANAGE_ACCOUNTS
    template_name = "calls/health.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        # Tasks can be thousands: a counted page at a time (the tasks table is small enough to
        # count), the calls never read.
        tasks = TaskHealthTable(sync_health.task_health_rows(), now=now)
        pagination.paginate(tasks, self.request, pagination.CountingPaginator)
        stuck = sync_health.stuck_tasks(now)
        stuck_count = stuck.count()
        unknown = sync_health.stopped_unknown_tasks()
        unknown_count = unknown.count()
        context.update(
            checked_at=now,
            accounts=unpaged(AccountHealthTable(sync_health.account_health(now)), self.request),
            tasks=tasks,
            stuck=unpaged(StuckTaskTable(list(stuck[:STUCK_SHOWN]), now=now), self.request),
            stuck_count=stuck_count,
            stuck_shown=min(stuck_count, STUCK_SHOWN),
            unknown=unpaged(UnknownTaskTable(list(unknown[:UNKNOWN_SHOWN])), self.request),
            unknown_count=unknown_count,
            unknown_shown=min(unknown_count, UNKNOWN_SHOWN),
            unknown_tries=sync_health.unknown_task_tries(),
            alert_threshold=sync_health.alert_threshold(),
            behind_limit=sync_health.behind_limit(),
            stuck_limit=sync_health.stuck_limit(),
            figure_check=FigureCheck.objects.filter(finished_at__isnull=False).first(),
            # A re-read queued after a zone change and not finished (running, or its job lost).
            rereads=BluAccount.objects.filter(reread_from_pk__isnull=False).order_by("name"),
        )
        return context
