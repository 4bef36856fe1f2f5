"""The borrowers: a search, and one borrower's calls across tasks and accounts."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Exists, OuterRef, Q
from django.http import Http404
from django.utils import timezone
from django.views.generic import TemplateView
from django_tables2.rows import BoundRows

from calls.contact import stop_list
from calls.dashboard import borrowers, keyset, pagination
from calls.dashboard.recordings import is_recording_url
from calls.dashboard.tables import BorrowerTable
from calls.limits import standing as limit_standing
from calls.models import (
    Borrower,
    CallRecord,
    Complaint,
    PredialAnswer,
    Promise,
    Repayment,
    borrower_url,
)
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
        at_limit = query.get(AT_LIMIT_PARAM) == "1"
        where = limit_standing.at_limit_filter() if at_limit else None
        if any(name in query for name in (keyset.AFTER, keyset.BEFORE)) or "page" not in query:
            table = self._keyset_table(term, sort, size, where)
        else:
            # A link by page number (an old one) still works, by offset, up to max_page.
            number = min(pagination.page_number(query.get("page")), BorrowerPaginator.max_page)
            found = borrowers.search(term, sort=sort, depth=number * size + 1, where=where)
            table = BorrowerTable(found)
            table.order_by = (sort,)
            # Never a COUNT over millions of borrowers: pages link on, never to the last one.
            pagination.paginate(table, self.request, BorrowerPaginator)
        context.update(
            table=table, term=term, min_name_chars=borrowers.MIN_NAME_CHARS, at_limit=at_limit
        )
        return context

    def _keyset_table(self, term: str, sort: str, size: int, where: Q | None) -> BorrowerTable:
        """The page just past (or before) the link's cursor in the sort, read from the indexes:
        any page as cheap as the first, and no last page to link to (nothing counts them)."""
        query = self.request.GET
        page = borrowers.list_page(
            term,
            sort,
            size,
            after=query.get(keyset.AFTER),
            before=query.get(keyset.BEFORE),
            where=where,
        )
        if page is None:
            messages.warning(self.request, UNREADABLE_CURSOR)
            page = borrowers.list_page(term, sort, size, where=where)
            assert page is not None
        table = BorrowerTable(page.rows)
        table.order_by = (sort,)
        table.request = self.request
        kept = query.copy()
        for name in (*keyset.PAGING_PARAMS, "page"):
            kept.pop(name, None)
        rows = page.rows
        table.page = keyset.KeysetPage(
            object_list=BoundRows(data=rows, table=table),
            has_previous=page.has_previous and bool(rows),
            has_next=page.has_next and bool(rows),
            first_query=kept.urlencode(),
            previous_query=_with(kept, keyset.BEFORE, rows[0], sort) if rows else "",
            next_query=_with(kept, keyset.AFTER, rows[-1], sort) if rows else "",
            kept=[],
            day=None,
        )
        table.keyset = True
        return table


UNREADABLE_CURSOR = "That page link could not be read, so the first borrowers are shown."


def _with(kept, name: str, row: Borrower, sort: str) -> str:
    query = kept.copy()
    query[name] = str(borrowers.BorrowerCursor.of(row, sort))
    return query.urlencode()


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
            stopped_for=stop_list.reasons_of(pks, timezone.now()),
            complaints=list(
                Complaint.objects.filter(borrower_id__in=pks)
                .select_related("call")
                .order_by("-opened_at", "-id")[:LEDGER_ROWS]
            ),
            predial_answers=list(
                PredialAnswer.objects.filter(borrower_id__in=pks)
                .select_related("account")
                .order_by("-at", "-id")[:LEDGER_ROWS]
            ),
        )
        # One person's rows in several accounts: each reason once, since its earliest.
        reasons: dict[str, tuple[str, datetime]] = {}
        for each in context["stopped_for"].values():
            for reason, since in each:
                if reason.slug not in reasons or since < reasons[reason.slug][1]:
                    reasons[reason.slug] = (reason.label, since)
        context["stop_reasons"] = list(reasons.values())
        return context
