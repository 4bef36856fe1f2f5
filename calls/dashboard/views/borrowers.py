"""The borrowers: a search, and one borrower's calls across tasks and accounts."""

from __future__ import annotations

from django.http import Http404
from django.views.generic import TemplateView

from calls.dashboard import borrowers, pagination
from calls.dashboard.recordings import is_recording_url
from calls.dashboard.tables import BorrowerTable
from calls.models import Borrower, Promise, Repayment
from calls.promises import states
from calls.security import roles
from calls.security.access import DashboardView

SEARCH_PARAM = "q"
# A borrower's newest promises and repayments shown: a handful each, in practice.
LEDGER_ROWS = 50


class BorrowerListView(DashboardView, TemplateView):
    permission_required = roles.VIEW_BORROWERS
    template_name = "calls/borrower_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        term = self.request.GET.get(SEARCH_PARAM, "").strip()[: borrowers.MAX_TERM_CHARS]
        table = BorrowerTable(borrowers.search(term))
        pagination.sort(table, self.request)
        # Never a COUNT over millions of borrowers: pages link on, never to the last one.
        pagination.paginate(table, self.request)
        context.update(table=table, term=term, min_name_chars=borrowers.MIN_NAME_CHARS)
        return context


class BorrowerDetailView(DashboardView, TemplateView):
    """Every call of one borrower key, across accounts: the same key under two accounts is shown
    as one person, each account's row named."""

    permission_required = roles.VIEW_BORROWERS
    template_name = "calls/borrower_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = list(
            Borrower.objects.filter(key=self.kwargs["key"])
            .select_related("account")
            .order_by("account__name")
        )
        if not rows:
            raise Http404("No borrower has this key.")
        pks = [row.pk for row in rows]
        newest_first = sorted(
            rows, key=lambda row: (row.last_call_at is not None, row.last_call_at), reverse=True
        )
        page = borrowers.timeline(pks, self.request.GET.get("older", ""))
        context.update(
            key=self.kwargs["key"],
            accounts=rows,
            # Each the newest an account's calls gave: one account may upload no name.
            name=next((row.name for row in newest_first if row.name), ""),
            order_id=next((row.order_id for row in newest_first if row.order_id), ""),
            phone=next((row.phone for row in newest_first if row.phone), ""),
            first_call_at=min(
                (row.first_call_at for row in rows if row.first_call_at), default=None
            ),
            contact=borrowers.contact(pks),
            calls=[(call, is_recording_url(call.record_url)) for call in page.calls],
            older=page.older,
            paged=bool(self.request.GET.get("older")),
            promises=list(
                states.with_state(Promise.objects.filter(borrower_id__in=pks))
                .select_related("call", "task")
                .order_by("-made_at", "-id")[:LEDGER_ROWS]
            ),
            repayments=list(
                Repayment.objects.filter(borrower_id__in=pks)
                .select_related("account")
                .order_by("-paid_at", "-id")[:LEDGER_ROWS]
            ),
            state_labels=states.STATES,
        )
        return context
