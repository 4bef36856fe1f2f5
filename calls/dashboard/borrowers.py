"""What the borrower pages read: a borrower's calls across tasks and accounts, their recent
counts and last right-party contact, and the borrower search. Every query goes through an index
(the calls' (borrower, start) index, the borrowers' key, name, orderId, phone and sort indexes)
and reads a bounded number of rows; nothing counts every borrower or every call."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from calls.dashboard import keyset
from calls.ingest.borrowers import CONTROL_CHARS
from calls.models import Borrower, CallRecord, Conclusion

TIMELINE_PAGE = 100
# Shorter than this, a name prefix matches too many borrowers to be worth an answer.
MIN_NAME_CHARS = 2
MAX_TERM_CHARS = 100
# The most rows a search reads per test (its ids stay within every database's parameter limit).
MAX_SEARCH_DEPTH = 5001


def right_party_codes() -> list[str]:
    """The codes managers classified as reaching the borrower (calls/conclusions/categories.py)."""
    return list(
        Conclusion.objects.filter(classified=True, right_party=True).values_list("code", flat=True)
    )


@dataclass(frozen=True)
class Contact:
    """A borrower's recent contact, counted at read from their calls."""

    calls: int
    calls_7d: int
    calls_30d: int
    last_right_party_at: datetime | None


def contact(borrower_pks: list[int], now: datetime | None = None) -> Contact:
    now = now or timezone.now()
    calls = CallRecord.objects.filter(borrower_id__in=borrower_pks)
    counts = calls.aggregate(
        calls=Count("pk"),
        calls_7d=Count("pk", filter=Q(start_time__gte=now - timedelta(days=7))),
        calls_30d=Count("pk", filter=Q(start_time__gte=now - timedelta(days=30))),
    )
    last = (
        calls.filter(code__in=right_party_codes(), start_time__isnull=False)
        .order_by("-start_time")
        .values_list("start_time", flat=True)
        .first()
    )
    return Contact(last_right_party_at=last, **counts)


@dataclass(frozen=True)
class Timeline:
    calls: list[CallRecord]
    older: str | None  # the cursor of the next page, when there is one


def timeline(borrower_pks: list[int], older_than: str = "") -> Timeline:
    """A page of the borrowers' calls, newest first, each with its task and account; `older_than`
    is a cursor from the previous page (an unreadable one starts from the newest)."""
    calls = (
        CallRecord.objects.filter(borrower_id__in=borrower_pks)
        .select_related("task", "account", "limit_breach")
        .order_by("-start_time", "-id")
    )
    if cursor := keyset.Cursor.parse(older_than):
        calls = calls.filter(keyset.older_than(cursor))
    page = list(calls[: TIMELINE_PAGE + 1])
    more = len(page) > TIMELINE_PAGE
    page = page[:TIMELINE_PAGE]
    return Timeline(page, str(keyset.cursor_of(page[-1])) if more else None)


# What the list may be sorted by (BorrowerTable's columns), each with the index it reads.
SORTS = {
    "-last_call_at": ("-last_call_at", "-id"),
    "last_call_at": ("last_call_at", "id"),
    "-calls_7d": ("-calls_7d", "-id"),
    "calls_7d": ("calls_7d", "id"),
}
DEFAULT_SORT = "-last_call_at"


def search(
    term: str,
    *,
    sort: str = DEFAULT_SORT,
    depth: int | None = None,
    past: Q | None = None,
    where: Q | None = None,
) -> QuerySet[Borrower]:
    """Borrowers whose key, orderId or masked phone starts with `term`, or whose name does
    (any case); every borrower with a call when the term is empty.

    With `depth` (the rows up to the end of the page shown), each of the four tests finds its
    first `depth` borrowers in the `sort` order (SORTS) through its own index, and only those
    few are sorted: an OR of the four would walk the sort's index past millions of borrowers
    for a term that matches a few thousand. Exact for the first `depth` rows in that order (at
    most MAX_SEARCH_DEPTH: a search shows its first 5,000 matches). `past` keeps only the
    borrowers past a page's cursor (BorrowerCursor.past), so each test reads from there on;
    `where` (a filter such as "at a contact limit") likewise applies before each test's limit,
    so a filtered page is as full as its matches allow."""
    term = term.strip()[:MAX_TERM_CHARS]
    borrowers = Borrower.objects.filter(last_call_at__isnull=False)
    for narrowing in (past, where):
        if narrowing is not None:
            borrowers = borrowers.filter(narrowing)
    if not term:
        return borrowers
    if CONTROL_CHARS.search(term):
        # No key has one, and PostgreSQL refuses a NUL even as a parameter.
        return borrowers.none()
    tests = [Q(key__startswith=term), Q(order_id__startswith=term), Q(phone__startswith=term)]
    if len(term) >= MIN_NAME_CHARS:
        tests.append(Q(search_name__startswith=term.lower()))
    if depth is None:
        found = tests[0]
        for test in tests[1:]:
            found |= test
        return borrowers.filter(found)
    branches = [
        borrowers.filter(test)
        .order_by(*SORTS[sort])
        .values("id")[: min(depth, MAX_SEARCH_DEPTH)]
        .query.sql_with_params()
        for test in tests
    ]
    # Each branch in a derived table: SQLite allows no LIMIT in a UNION's own members. The
    # branches are Django's own compiled SQL; the term is only ever a parameter.
    union = " UNION ".join(
        f"SELECT id FROM ({sql}) AS branch{n}"  # noqa: S608
        for n, (sql, _) in enumerate(branches)
    )
    params = [param for _, branch_params in branches for param in branch_params]
    # The few ids first, in a query of their own: as `id IN (union)` PostgreSQL may run the
    # union again for every borrower it walks in the sort's index.
    with connection.cursor() as cursor:
        cursor.execute(union, params)
        ids = [row[0] for row in cursor.fetchall()]
    return borrowers.filter(pk__in=ids)


_BORROWER_CURSOR = re.compile(r"(-?[a-z_0-9]{1,20})\.(-?\d{1,18})_(\d{1,18})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BorrowerCursor:
    """Where a page of the list starts or ends: the sort it was made in (SORTS), that row's
    sort value (the last call in microseconds since the epoch, or the calls in 7 days) and its
    id. A cursor of another sort (a column header clicked on page 3 keeps the link's cursor)
    starts the new sort from its first page."""

    sort: str
    value: int
    pk: int

    def __str__(self) -> str:
        return f"{self.sort}.{self.value}_{self.pk}"

    @classmethod
    def parse(cls, text: str) -> BorrowerCursor | None:
        match = _BORROWER_CURSOR.fullmatch(text)
        if match is None or match[1] not in SORTS:
            return None
        return cls(match[1], int(match[2]), int(match[3]))

    @classmethod
    def of(cls, borrower: Borrower, sort: str) -> BorrowerCursor:
        value = getattr(borrower, sort.removeprefix("-"))
        if isinstance(value, datetime):
            value = (value - _EPOCH) // timedelta(microseconds=1)
        return cls(sort, int(value), borrower.pk)

    def past(self, *, forward: bool = True) -> Q:
        """The borrowers after this cursor in its sort (forward), or before it."""
        sort = self.sort
        field = sort.removeprefix("-")
        value: int | datetime = self.value
        if field == "last_call_at":
            try:
                value = _EPOCH + timedelta(microseconds=self.value)
            except OverflowError:
                value = _EPOCH
        op = "lt" if sort.startswith("-") == forward else "gt"
        # The `lte`/`gte` bound alone lets the database walk the sort's index from the cursor.
        return Q(**{f"{field}__{op}e": value}) & (
            Q(**{f"{field}__{op}": value}) | Q(**{f"id__{op}": self.pk})
        )


def reversed_sort(sort: str) -> str:
    return sort.removeprefix("-") if sort.startswith("-") else "-" + sort


@dataclass(frozen=True)
class ListPage:
    """A page of the borrower list by keyset, and whether there are rows either side."""

    rows: list[Borrower]
    has_previous: bool
    has_next: bool


def list_page(
    term: str,
    sort: str,
    size: int,
    *,
    after: str | None = None,
    before: str | None = None,
    where: Q | None = None,
) -> ListPage | None:
    """The `size` borrowers matching `term` just past the `after` cursor (or just before the
    `before` one, or the first): read from the sort's index and each search test's own, so a
    page a million rows deep costs what the first costs. None when the cursor is unreadable."""
    text = before if before is not None else after
    cursor = BorrowerCursor.parse(text) if text is not None else None
    if text is not None and cursor is None:
        return None
    if cursor is not None and cursor.sort != sort:
        cursor = None
    backward = before is not None and cursor is not None
    order = reversed_sort(sort) if backward else sort
    past = cursor.past(forward=not backward) if cursor else None
    found = list(
        search(term, sort=order, depth=size + 1, past=past, where=where)
        .select_related("account")
        .order_by(*SORTS[order])[: size + 1]
    )
    more = len(found) > size
    rows = found[:size]
    if backward:
        return ListPage(rows[::-1], has_previous=more, has_next=True)
    return ListPage(rows, has_previous=cursor is not None, has_next=more)


def recent_counts(borrower_pks: Iterable[int], now: datetime | None = None) -> dict[int, int]:
    """Calls in the last 7 days of each borrower on a page, counted from the calls' index."""
    since = (now or timezone.now()) - timedelta(days=7)
    rows = (
        CallRecord.objects.filter(borrower_id__in=list(borrower_pks), start_time__gte=since)
        .order_by()
        .values("borrower_id")
        .annotate(n=Count("pk"))
        .values_list("borrower_id", "n")
    )
    return dict(rows)


def last_right_party(borrower_pks: Iterable[int]) -> dict[int, datetime]:
    """The last right-party contact of each borrower on a page."""
    rows = (
        CallRecord.objects.filter(
            borrower_id__in=list(borrower_pks),
            code__in=right_party_codes(),
            start_time__isnull=False,
        )
        .order_by()
        .values("borrower_id")
        .annotate(last=Max("start_time"))
        .values_list("borrower_id", "last")
    )
    return dict(rows)
