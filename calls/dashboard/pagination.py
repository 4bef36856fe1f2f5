"""Sorting and paging of the tables as the URL asks, within reason: whatever a link, a typo or a
scanner puts in `sort`, `page` or `per_page`, a table shows a sensible page, never an error.

django-tables2's own RequestConfig passes these values on as they come: a negative page size
fails the page, a page number beyond 2**63 overflows the database's OFFSET, and an unknown column
with a dot in its name trips a deprecation warning."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.core.paginator import EmptyPage, Paginator
from django.http import HttpRequest
from django_tables2 import LazyPaginator, SingleTableMixin

from calls.dashboard import keyset

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# Far beyond any table's last page (200 million rows at the largest page size), and small enough
# that its OFFSET fits every database's integer.
MAX_PAGE = 1_000_000


def _whole_number(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def page_size(value: Any, default: int = PAGE_SIZE) -> int:
    """The rows per page `value` asks for: `default` when it is missing, not a whole number or
    below 1; at most MAX_PAGE_SIZE."""
    size = _whole_number(value)
    if size is None or size < 1:
        size = default
    return min(size, MAX_PAGE_SIZE)


def page_number(value: Any) -> int:
    """The page `value` asks for: 1 when it is missing, not a whole number or below 1. A number
    past the end is the paginator's to judge."""
    number = _whole_number(value)
    return number if number is not None and number >= 1 else 1


class _Capped:
    """A paginator whose page size and page number stay within reason, whoever calls it."""

    max_page = MAX_PAGE

    def __init__(self, object_list, per_page, *args, **kwargs) -> None:
        super().__init__(object_list, page_size(per_page), *args, **kwargs)  # type: ignore[call-arg]

    def validate_number(self, number):
        number = super().validate_number(number)  # type: ignore[misc]
        if number > self.max_page:
            raise EmptyPage("That page number is past any table's end.")
        return number


class CountingPaginator(_Capped, Paginator):
    """Django's Paginator (counts the rows, so knows the last page), capped."""


class CallPaginator(_Capped, LazyPaginator):
    """LazyPaginator (never a COUNT, for tables of calls), capped."""


def sort(table: tables.Table, request: HttpRequest) -> None:
    """Order `table` by the columns the URL names, ignoring names that are not its columns."""
    table.request = request
    wanted = request.GET.getlist(table.prefixed_order_by_field)
    known = [name for name in wanted if name.removeprefix("-") in table.columns]
    if known:
        table.order_by = known


def paginate(
    table: tables.Table,
    request: HttpRequest,
    paginator_class: type[Paginator] = CallPaginator,
    default_size: int = PAGE_SIZE,
) -> None:
    """Show the page of `table` the URL asks for, at the page size it asks for (see page_size).
    A page past the end shows the last page when the paginator counts, else the first."""
    # Set before any rendering: render_table configures a table without a request from the URL
    # as it comes, unbounded.
    table.request = request
    query = request.GET
    size = page_size(query.get(table.prefixed_per_page_field), default_size)
    number = page_number(query.get(table.prefixed_page_field))
    try:
        table.paginate(paginator_class, per_page=size, page=number)
    except EmptyPage:
        # LazyPaginator never learns its last page (num_pages stays None): its first, then.
        table.page = table.paginator.page(table.paginator.num_pages or 1)


class PagedTableMixin(SingleTableMixin):
    """SingleTableMixin whose table is sorted and paged by `sort` and `paginate` above."""

    table_paginator_class: type[Paginator] = CallPaginator
    table_page_size = PAGE_SIZE
    # Tables of calls page by keyset in their default order (calls.dashboard.keyset).
    table_keyset = False

    def get_table(self, **kwargs):
        table = self.get_table_class()(data=self.get_table_data(), **kwargs)
        request = self.request
        sort(table, request)
        if self.table_keyset and keyset.applies(table, request):
            table.request = request
            size = page_size(request.GET.get(table.prefixed_per_page_field), self.table_page_size)
            keyset.paginate(table, request, size)
        else:
            paginate(table, request, self.table_paginator_class, self.table_page_size)
        return table
