"""The calls table paged by keyset in its default order: next, previous and first by cursor, a
jump to a date, the same rows offset paging showed, and a bad cursor never an error."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from calls.models import CallRecord, Task
from tests.helpers import calls_table_ids, make_call

URL = reverse("calls:call_list")
ALL_DATES = {"started_after": "", "per_page": "20"}


def link(response, rel: str) -> QueryDict | None:
    """The query of the page's `first`, `previous` or `next` link, or None when it has none."""
    match = re.search(rf'<a href="[^"?]*\?([^"]*)"[^>]*id="calls-{rel}"', response.content.decode())
    return QueryDict(html.unescape(match.group(1))) if match else None


def many_calls(task: Task, count: int, same_start: int = 0, no_start: int = 0) -> None:
    """`count` calls a minute apart, then `same_start` all started at one moment (only their ids
    tell them apart) and `no_start` without a start time."""
    now = timezone.now()
    moment = now - timedelta(minutes=count // 2, seconds=30)
    starts = [now - timedelta(minutes=n) for n in range(count)]
    starts += [moment] * same_start + [None] * no_start
    CallRecord.objects.bulk_create(
        CallRecord(
            account=task.account,
            task=task,
            call_id=f"c{n:03d}",
            status=2,
            start_time=start,
            raw={"callId": f"c{n:03d}"},
            content_hash="x",
        )
        for n, start in enumerate(starts)
    )


def in_order() -> list[str]:
    """Every call id in the table's default order, as the database sorts it."""
    return list(CallRecord.objects.order_by("-start_time", "-id").values_list("call_id", flat=True))


def walk(client, url: str, query: dict) -> list[list[str]]:
    """The pages met by following `next` from `query` to the end."""
    pages = []
    response = client.get(url, query)
    while True:
        pages.append(calls_table_ids(response))
        following = link(response, "next")
        if following is None:
            return pages
        response = client.get(url, following)


def test_walking_every_page_shows_each_call_once_even_when_many_share_a_start_time(
    staff_client, bare_task
):
    many_calls(bare_task, 70, same_start=45, no_start=5)

    pages = walk(staff_client, URL, ALL_DATES)

    shown = [call for page in pages for call in page]
    assert shown == in_order() and len(set(shown)) == 120
    assert [len(page) for page in pages] == [20] * 6


def test_each_page_by_cursor_shows_exactly_the_rows_of_the_same_page_by_number(
    staff_client, bare_task
):
    many_calls(bare_task, 50, same_start=30, no_start=3)

    pages = walk(staff_client, URL, ALL_DATES)

    for number, page in enumerate(pages, start=1):
        by_number = staff_client.get(URL, {**ALL_DATES, "page": str(number)})
        assert calls_table_ids(by_number) == page, number


def test_previous_then_next_comes_back_to_the_same_page(staff_client, bare_task):
    many_calls(bare_task, 50, same_start=25)
    first = staff_client.get(URL, ALL_DATES)
    second = staff_client.get(URL, link(first, "next"))
    third = staff_client.get(URL, link(second, "next"))

    back = staff_client.get(URL, link(third, "previous"))
    again = staff_client.get(URL, link(back, "next"))
    to_first = staff_client.get(URL, link(back, "previous"))

    assert calls_table_ids(back) == calls_table_ids(second)
    assert calls_table_ids(again) == calls_table_ids(third)
    assert calls_table_ids(to_first) == calls_table_ids(first)
    assert link(first, "previous") is None and link(first, "first") is None
    assert link(to_first, "previous") is None
    assert calls_table_ids(staff_client.get(URL, link(third, "first"))) == calls_table_ids(first)


def test_the_links_keep_the_filters_and_the_page_size(staff_client, bare_task):
    many_calls(bare_task, 60)
    CallRecord.objects.filter(call_id__endswith="7").update(name="Perera")

    first = staff_client.get(
        URL, {**ALL_DATES, "q": "perera", "per_page": "4", "sort": "-start_time"}
    )
    following = link(first, "next")

    assert following is not None
    assert following["q"] == "perera" and following["per_page"] == "4"
    assert following["sort"] == "-start_time" and following["started_after"] == ""
    second = staff_client.get(URL, following)
    assert calls_table_ids(second) == ["c047", "c057"]
    form = first.content.decode().split('id="calls-jump"', 1)[1].split("</form>", 1)[0]
    assert '<input type="hidden" name="q" value="perera">' in form


def test_a_date_jump_lands_on_the_newest_call_started_on_or_before_that_day(
    staff_client, bare_task, settings
):
    settings.TIME_ZONE = "Asia/Colombo"
    utc = ZoneInfo("UTC")
    for n in range(25):  # on the 16th in Colombo, from 00:10 on (18:40 UTC on the 15th)
        many = datetime(2024, 8, 15, 18, 40, tzinfo=utc) + timedelta(minutes=n)
        CallRecord.objects.create(
            account=bare_task.account, task=bare_task, call_id=f"16th-{n:02d}", status=2,
            start_time=many, raw={}, content_hash="x",
        )  # fmt: skip
    for call_id, start in [
        ("late-on-15th", datetime(2024, 8, 15, 18, 20, tzinfo=utc)),  # 23:50 in Colombo
        ("earlier-on-15th", datetime(2024, 8, 15, 10, 0, tzinfo=utc)),
    ]:
        CallRecord.objects.create(
            account=bare_task.account, task=bare_task, call_id=call_id, status=2,
            start_time=start, raw={}, content_hash="x",
        )  # fmt: skip

    jumped = staff_client.get(URL, {**ALL_DATES, "on_or_before": "2024-08-15"})

    assert calls_table_ids(jumped) == ["late-on-15th", "earlier-on-15th"]
    assert 'name="on_or_before" value="2024-08-15"' in jumped.content.decode()
    newer = staff_client.get(URL, link(jumped, "previous"))
    assert calls_table_ids(newer) == [f"16th-{n:02d}" for n in range(19, -1, -1)]
    assert link(newer, "previous") is not None


def test_a_date_jump_past_the_default_week_shows_that_day_and_says_all_dates(
    staff_client, bare_task
):
    old = make_call(bare_task, "a-month-ago", timezone.now() - timedelta(days=30))
    make_call(bare_task, "today", timezone.now())
    day = timezone.localtime(old.start_time).date().isoformat()

    jumped = staff_client.get(URL, {"on_or_before": day}, follow=True)

    assert calls_table_ids(jumped) == ["a-month-ago"]
    assert 'name="started_after" value=""' in jumped.content.decode()  # the form says so


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("after", "abc"),
        ("after", "1_"),
        ("before", "9" * 30 + "_1"),
        ("after", "999999999999999999_1"),
        ("before", "-999999999999999999_1"),
        ("after", "none_x"),
        ("on_or_before", "2024-13-45"),
        ("on_or_before", "1066-10-14"),
    ],
)
def test_a_bad_cursor_or_date_shows_the_newest_calls_and_says_why(
    staff_client, bare_task, param, value
):
    many_calls(bare_task, 30)

    response = staff_client.get(URL, {**ALL_DATES, param: value})

    assert response.status_code == 200
    assert calls_table_ids(response) == in_order()[:20]
    page = response.content.decode()
    assert "could not be read" in page or "Enter a date" in page


def test_a_cursor_whose_call_was_deleted_still_pages_from_where_it_was(staff_client, bare_task):
    many_calls(bare_task, 30)
    first = staff_client.get(URL, ALL_DATES)
    CallRecord.objects.filter(call_id=calls_table_ids(first)[-1]).delete()

    second = staff_client.get(URL, link(first, "next"))

    assert calls_table_ids(second) == in_order()[19:29]


def test_a_deep_page_costs_as_many_queries_as_the_first(staff_client, bare_task):
    many_calls(bare_task, 300)
    ordered = list(CallRecord.objects.order_by("-start_time", "-id"))
    staff_client.get(URL, ALL_DATES)  # the session's first page pays for settling in

    with CaptureQueriesContext(connection) as second:
        staff_client.get(URL, {**ALL_DATES, "after": cursor_of(ordered[19])})
    with CaptureQueriesContext(connection) as deep:
        response = staff_client.get(URL, {**ALL_DATES, "after": cursor_of(ordered[280])})

    assert calls_table_ids(response) == in_order()[281:300]
    assert len(deep.captured_queries) == len(second.captured_queries)
    assert not [q for q in deep.captured_queries if "OFFSET" in q["sql"].upper()]


def cursor_of(call: CallRecord) -> str:
    micros = (call.start_time - datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))) // timedelta(
        microseconds=1
    )
    return f"{micros}_{call.pk}"


def test_other_orders_still_page_by_number(staff_client, bare_task):
    many_calls(bare_task, 30)

    first = staff_client.get(URL, {**ALL_DATES, "sort": "duration"})

    assert link(first, "next") is None
    assert "page=2" in first.content.decode()


def test_a_tasks_page_pages_its_calls_by_cursor_too(staff_client, bare_task):
    many_calls(bare_task, 45, same_start=10)

    pages = walk(staff_client, reverse("calls:task_detail", args=[bare_task.pk]), ALL_DATES)

    assert [call for page in pages for call in page] == in_order()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN's plan is PostgreSQL's")
def test_a_deep_page_walks_the_start_time_index_without_sorting_the_table(staff_client, bare_task):
    many_calls(bare_task, 300)
    last = list(CallRecord.objects.order_by("-start_time", "-id"))[250]
    with CaptureQueriesContext(connection) as queries:
        staff_client.get(URL, {**ALL_DATES, "after": cursor_of(last)})
    page_query = next(
        q["sql"]
        for q in queries.captured_queries
        if "calls_callrecord" in q["sql"] and "LIMIT" in q["sql"]
    )

    with connection.cursor() as cursor:
        # A few hundred rows: left alone, the planner would rather read them all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + page_query)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    # The cursor bounds the index scan itself: rows before it are never read, however deep.
    assert re.search(r"Index Cond: \(start_time <= ", plan), plan
    assert "call_start_idx" in plan and "Seq Scan" not in plan, plan
