"""Paging the calls table by keyset in its default order (newest start first, the id breaking
ties): a page is the rows just past the last row (or just before the first row) of the page the
link came from, found through the start-time indexes, so page 5,000 costs what page 1 costs.
An OFFSET would read and throw away every row before the page.

The links carry a cursor, `after` (next) or `before` (previous), holding the start time and id
of the row to page from; `on_or_before` (a day) jumps to the calls started on or before that day
in the company's calendar. A cursor the page cannot read (typed, cut short, crafted) shows the
first page with a message; one whose row was deleted since still pages from where that row was.
Other sort orders are paged by offset, capped (calls.dashboard.pagination)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django import forms
from django.contrib import messages
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest, QueryDict
from django_tables2.rows import BoundRows

from calls.dashboard.filters import day_start, sane_day

AFTER = "after"
BEFORE = "before"
ON_OR_BEFORE = "on_or_before"
# Whatever paged the page the link came from: none of it belongs in the links of the next one.
PAGING_PARAMS = ("page", AFTER, BEFORE, ON_OR_BEFORE)
DEFAULT_ORDER = ["-start_time"]
UNREADABLE_CURSOR = "That page link could not be read, so the newest calls are shown."

_CURSOR = re.compile(r"(-?\d{1,18}|none)_(\d{1,18})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Cursor:
    """Where a page starts or ends: a row's start time (None when Blu gave none) and id."""

    start_time: datetime | None
    pk: int

    def __str__(self) -> str:
        # Microseconds since the epoch: exact, short, and the same in every time zone.
        if self.start_time is None:
            return f"none_{self.pk}"
        return f"{(self.start_time - _EPOCH) // timedelta(microseconds=1)}_{self.pk}"

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        """The cursor `text` holds, or None when it holds none."""
        match = _CURSOR.fullmatch(text)
        if match is None:
            return None
        micros, pk = match.groups()
        if micros == "none":
            return cls(None, int(pk))
        try:
            return cls(_EPOCH + timedelta(microseconds=int(micros)), int(pk))
        except OverflowError:
            return None


def _past(cursor: Cursor, forward: bool) -> Q:
    """The rows strictly past `cursor`, walking forward (to older calls) or back (to newer)."""
    op = "lt" if forward else "gt"
    # Where the calls without a start time sort in a descending order is the database's choice
    # (first on PostgreSQL, last on SQLite); offset paging follows it, so keyset paging does too.
    nulls_lead = connection.features.nulls_order_largest
    if cursor.start_time is None:
        past = Q(start_time__isnull=True, **{f"id__{op}": cursor.pk})
        if nulls_lead == forward:
            past |= Q(start_time__isnull=False)
        return past
    # The `lte`/`gte` bound alone lets the database walk the start-time index from the cursor.
    past = Q(**{f"start_time__{op}e": cursor.start_time}) & (
        Q(**{f"start_time__{op}": cursor.start_time}) | Q(**{f"id__{op}": cursor.pk})
    )
    if nulls_lead != forward:
        past |= Q(start_time__isnull=True)
    return past


def _cursor_of(call) -> Cursor:
    return Cursor(call.start_time, call.pk)


class _DayField(forms.DateField):
    default_error_messages = {"invalid": "Enter a date as YYYY-MM-DD, for example 2024-08-15."}


def _day(text: str) -> date:
    """The day `text` names; ValueError saying what is wrong when it names none."""
    field = _DayField(input_formats=["%Y-%m-%d"], validators=[sane_day])
    try:
        return field.clean(text)
    except forms.ValidationError as exc:
        raise ValueError(" ".join(exc.messages)) from None


@dataclass
class KeysetPage:
    """What the table's template needs of a page: its rows, and the links around it."""

    object_list: BoundRows
    has_previous: bool
    has_next: bool
    first_query: str
    previous_query: str
    next_query: str
    # The URL's other parameters (filters, sort, page size), for the date form to send again.
    kept: list[tuple[str, str]]
    day: date | None

    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next


def applies(table, request: HttpRequest) -> bool:
    """Whether `table` is paged by keyset: in the default order, unless an old link asks for a
    page by number (those still work, by offset)."""
    if [str(name) for name in table.order_by or DEFAULT_ORDER] != DEFAULT_ORDER:
        return False
    query = request.GET
    return any(name in query for name in (AFTER, BEFORE, ON_OR_BEFORE)) or "page" not in query


def _query(kept: QueryDict, **paging: str) -> str:
    query = kept.copy()
    for name, value in paging.items():
        query[name] = value
    return query.urlencode()


def paginate(table, request: HttpRequest, size: int) -> None:
    """Show the `size` calls of `table` (a queryset's) that the URL's cursor asks for."""
    query = request.GET
    rows: QuerySet = table.data.data
    ordered = rows.order_by("-start_time", "-id")
    forward = True
    day: date | None = None
    has_previous = False
    try:
        if BEFORE in query:
            cursor = Cursor.parse(query[BEFORE])
            if cursor is None:
                raise ValueError(UNREADABLE_CURSOR)
            forward = False
            newer = rows.filter(_past(cursor, forward=False)).order_by("start_time", "id")
            found = list(newer[: size + 1])
        elif AFTER in query:
            cursor = Cursor.parse(query[AFTER])
            if cursor is None:
                raise ValueError(UNREADABLE_CURSOR)
            found = list(ordered.filter(_past(cursor, forward=True))[: size + 1])
            has_previous = True
        elif query.get(ON_OR_BEFORE):
            day = _day(query[ON_OR_BEFORE])
            until = day_start(day + timedelta(days=1))
            found = list(ordered.filter(start_time__lt=until)[: size + 1])
        else:
            found = list(ordered[: size + 1])
    except ValueError as exc:
        messages.warning(request, str(exc))
        forward, day = True, None
        found = list(ordered[: size + 1])
    if forward:
        has_next = len(found) > size
        shown = found[:size]
    else:
        has_next = True
        has_previous = len(found) > size
        shown = found[:size][::-1]
    if day is not None and shown:
        # A jump lands anywhere: one look past its first row says whether newer calls exist.
        has_previous = rows.filter(_past(_cursor_of(shown[0]), forward=False)).exists()
    kept = query.copy()
    for name in PAGING_PARAMS:
        kept.pop(name, None)
    kept.pop("_export", None)
    table.page = KeysetPage(
        object_list=BoundRows(data=shown, table=table),
        has_previous=has_previous and bool(shown),
        has_next=has_next and bool(shown),
        first_query=kept.urlencode(),
        previous_query=_query(kept, **{BEFORE: str(_cursor_of(shown[0]))}) if shown else "",
        next_query=_query(kept, **{AFTER: str(_cursor_of(shown[-1]))}) if shown else "",
        kept=[(name, value) for name, values in kept.lists() for value in values],
        day=day,
    )
    table.keyset = True


def older_than(cursor: Cursor) -> Q:
    """The calls after `cursor` in the default order (newest first, the id breaking ties): the
    next page of any list of calls so ordered, such as a borrower's timeline."""
    return _past(cursor, forward=True)


def cursor_of(call) -> Cursor:
    return _cursor_of(call)
