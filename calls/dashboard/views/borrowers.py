"""The borrowers: a search, and one borrower's calls across tasks and accounts."""

from __future__ import annotations

from urllib.parse import urlencode

from django.db.models import Exists, OuterRef
from django.http import Http404
from django.views.generic import TemplateView

from calls.dashboard import borrowers, pagination
from calls.dashboard.recordings import is_recording_url
from calls.dashboard.tables import BorrowerTable
from calls.limits import standing as limit_standing
from calls.models import Borrower, CallRecord, Promise, Repayment, borrower_url
from calls.promises import states
from calls.security import roles
from calls.security.access import DashboardView

SEARCH_PARAM = "q"
# A borrower's newest promises and repayments shown: a handful each, in practice.
LEDGER_ROWS = 50


class BorrowerPaginator(pagination.CallPaginator):
    """No COUNT, and no deep OFFSET: past this page (an OFFSET that would walk millions of
    borrowers' index entries) the list shows its first page; a search narrows it instead."""

    max_page = 100

    def page(self, number):
        page = super().page(number)
        known: int | None = self.num_pages
        if known is not None and known >= self.max_page:
            # The last page offered: it links on to none.
            self._num_pages = self._final_num_pages = self.max_page
        return page


ACCOUNT_PARAM = "account"
# Only the borrowers at or over one of their account's contact limits (calls/limits/).
AT_LIMIT_PARAM = "at_limit"


# The borrower pages show calls (ids, codes, tasks, talk times): the calls' permission too.
BORROWER_PAGES = (roles.VIEW_DASHBOARD, roles.VIEW_BORROWERS)


class BorrowerListView(DashboardView, TemplateView):
    permission_required = BORROWER_PAGES
    template_name = "calls/borrower_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        term = self.request.GET.get(SEARCH_PARAM, "").strip()[: borrowers.MAX_TERM_CHARS]
        query = self.request.GET
        # One sort, known before the search: the search reads each test's first rows in it.
        wanted = [name for name in query.getlist("sort") if name in borrowers.SORTS]
        sort = wanted[0] if wanted else borrowers.DEFAULT_SORT
        size = pagination.page_size(query.get("per_page"))
        number = min(pagination.page_number(query.get("page")), BorrowerPaginator.max_page)
        found = borrowers.search(term, sort=sort, depth=number * size + 1)
        at_limit = query.get(AT_LIMIT_PARAM) == "1"
        if at_limit:
            found = found.filter(limit_standing.at_limit_filter())
        table = BorrowerTable(found)
        table.order_by = (sort,)
        # Never a COUNT over millions of borrowers: pages link on, never to the last one.
        pagination.paginate(table, self.request, BorrowerPaginator)
        context.update(
            table=table, term=term, min_name_chars=borrowers.MIN_NAME_CHARS, at_limit=at_limit
        )
        return context


class BorrowerDetailView(DashboardView, TemplateView):
    """Every call of one borrower key, across accounts: the same lender's key under two accounts
    is shown as one person, each account's row named. Blu's userId (the fallback) names a row of
    one account's upload, so such a key's page is one account's (`?account=`), never a merge."""

    permission_required = BORROWER_PAGES
    template_name = "calls/borrower_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        key = self.kwargs["key"]
        # A borrower whose calls all moved to another (a relink, a corrected record) has no page.
        found = Borrower.objects.filter(
            Exists(CallRecord.objects.filter(borrower_id=OuterRef("pk"))), key=key
        )
        scoped = key.startswith(Borrower.USER_ID_PREFIX)
        if scoped:
            account = self.request.GET.get(ACCOUNT_PARAM, "")
            if account.isdigit():
                found = found.filter(account_id=int(account))
        rows = list(found.select_related("account").order_by("account__name"))
        if not rows:
            raise Http404("No borrower has this key.")
        if scoped and len(rows) > 1:
            raise Http404("Blu's userId names a borrower of one account: name the account.")
        pks = [row.pk for row in rows]
        newest_first = sorted(
            rows, key=lambda row: (row.last_call_at is not None, row.last_call_at), reverse=True
        )
        page = borrowers.timeline(pks, self.request.GET.get("older", ""))
        page_url = borrower_url(key, rows[0].account_id)
        context.update(
            key=key,
            page_url=page_url,
            # The same page, older: a userId page stays its account's.
            older_query=urlencode(
                {
                    **({ACCOUNT_PARAM: rows[0].account_id} if scoped else {}),
                    "older": page.older or "",
                }
            ),
            accounts=rows,
            # Each the newest an account's calls gave: one account may upload no name.
            name=next((row.name for row in newest_first if row.name), ""),
            order_id=next((row.order_id for row in newest_first if row.order_id), ""),
            phone=next((row.phone for row in newest_first if row.phone), ""),
            first_call_at=min(
                (row.first_call_at for row in rows if row.first_call_at), default=None
            ),
            contact=borrowers.contact(pks),
            standings=[limit_standing.standing(row) for row in rows],
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
