"""When calls work: the right-party and promise rates by weekday and hour
(calls/dashboard/hours.py), over the last 7, 30 or 90 company days, of every account or of one."""

from __future__ import annotations

from datetime import timedelta

from django.views.generic import TemplateView

from calls.dashboard import hours, summary_queries
from calls.models import BluAccount, Conclusion
from calls.security.access import DashboardView

PERIODS = [7, 30, 90]
DEFAULT_DAYS = 30


class WhenCallsWorkView(DashboardView, TemplateView):
    template_name = "calls/when_calls_work.html"

    def _days(self) -> int:
        asked = self.request.GET.get("days", "")
        return int(asked) if asked in {str(n) for n in PERIODS} else DEFAULT_DAYS

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        accounts = list(BluAccount.objects.order_by("name").values_list("pk", "name"))
        asked = self.request.GET.get("account", "")
        # Anything but one of the accounts' ids is every account: nothing to refuse on a view.
        account = next((pk for pk, _name in accounts if str(pk) == asked), None)
        days = self._days()
        last = summary_queries.company_today()
        first = last - timedelta(days=days - 1)
        totals = hours.hour_code_totals(first, last, account)
        context.update(
            grids=hours.grids(totals, Conclusion.by_code()),
            hours=[f"{h:02}" for h in hours.HOURS],
            periods=PERIODS,
            days=days,
            first=first,
            last=last,
            accounts=accounts,
            account=account,
            min_calls=hours.MIN_CALLS,
        )
        return context
