"""The calls table: who sees it, every filter, sorting, paging without counting, empty states."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from calls.ingest import sync
from calls.models import CallRecord, Conclusion, StatusLabel
from tests.helpers import calls_table_ids, html_text, make_call

URL = reverse("calls:call_list")
ALL_DATES = {"started_after": ""}


def statuses(response) -> list[str]:
    """The Status column of the calls table, in the order shown."""
    table = response.content.decode().split('class="table calls-table"', 1)[1]
    table = table.split("</table>", 1)[0]
    headers = [html_text(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)]
    column = headers.index("Status")
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody", 1)[1], re.S)
    return [html_text(re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[column]) for row in rows]


# --- who may see it --------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_someone_in_no_group_gets_the_polite_page(client, outsider, synced):
    client.force_login(outsider)
    response = client.get(URL, ALL_DATES)
    assert response.status_code == 403
    assert b"not in any bludash group" in response.content
    assert synced.calls.first().name.encode() not in response.content


def test_staff_see_calls_of_every_task_but_no_export_links(staff_client, make_task):
    first, second = make_task("66547748", calls=3), make_task("66547749", calls=3)
    sync.sync_task(first)
    sync.sync_task(second)

    response = staff_client.get(URL)

    assert response.status_code == 200
    assert set(calls_table_ids(response)) == set(
        CallRecord.objects.values_list("call_id", flat=True)
    )
    page = response.content.decode()
    assert 'id="export-csv"' not in page and 'id="export-xlsx"' not in page


def test_each_call_links_to_its_page(staff_client, synced):
    call = synced.calls.first()
    page = staff_client.get(URL).content.decode()
    assert f'<a href="{reverse("calls:call_detail", args=[call.pk])}">{call.call_id}</a>' in page


def test_recordings_are_offered_through_our_own_view_never_blus_link(staff_client, synced):
    call = synced.calls.exclude(record_url="").first()
    page = staff_client.get(URL).content.decode()
    assert reverse("calls:call_recording", args=[call.pk]) in page
    assert call.record_url not in page


# --- the default range and dates -------------------------------------------------------------


def test_the_table_opens_on_the_last_seven_days_and_says_so(staff_client, bare_task):
    now = timezone.now()
    make_call(bare_task, "recent", now - timedelta(days=3))
    make_call(bare_task, "old", now - timedelta(days=10))

    response = staff_client.get(URL)

    assert calls_table_ids(response) == ["recent"]
    page = response.content.decode()
    assert "Showing the last 7 days" in page
    start = (timezone.localdate() - timedelta(days=6)).isoformat()
    assert f'name="started_after" value="{start}"' in page


def test_an_empty_start_date_widens_to_all_dates(staff_client, bare_task):
    now = timezone.now()
    make_call(bare_task, "recent", now - timedelta(days=3))
    make_call(bare_task, "old", now - timedelta(days=10))

    response = staff_client.get(URL, ALL_DATES)

    assert calls_table_ids(response) == ["recent", "old"]
    assert "Showing the last 7 days" not in response.content.decode()


def test_the_all_dates_link_keeps_the_other_filters(staff_client, bare_task):
    make_call(bare_task, "one", timezone.now(), code="PTP")
    page = staff_client.get(URL, {"code": "PTP"}).content.decode()
    assert 'href="?code=PTP&amp;started_after="' in page


def test_date_filters_count_whole_days_in_the_company_zone(staff_client, bare_task, settings):
    settings.TIME_ZONE = "Asia/Colombo"
    colombo = ZoneInfo("Asia/Colombo")
    make_call(bare_task, "late-on-15th", datetime(2024, 8, 15, 23, 30, tzinfo=colombo))
    make_call(bare_task, "early-on-16th", datetime(2024, 8, 16, 0, 15, tzinfo=colombo))
    make_call(bare_task, "on-14th", datetime(2024, 8, 14, 12, 0, tzinfo=colombo))

    only_15th = staff_client.get(
        URL, {"started_after": "2024-08-15", "started_before": "2024-08-15"}
    )
    from_16th = staff_client.get(URL, {"started_after": "2024-08-16"})

    assert calls_table_ids(only_15th) == ["late-on-15th"]
    assert calls_table_ids(from_16th) == ["early-on-16th"]


def test_times_are_shown_in_the_company_zone_which_the_header_names(
    staff_client, bare_task, settings
):
    settings.TIME_ZONE = "Asia/Colombo"
    make_call(bare_task, "c1", datetime(2024, 8, 15, 7, 30, tzinfo=ZoneInfo("UTC")))

    page = staff_client.get(URL, ALL_DATES).content.decode()

    assert "Started (Asia/Colombo)" in page
    assert "2024-08-15 13:00:00" in page  # 07:30 UTC is 13:00 in Colombo (UTC+5:30)


# --- the other filters -------------------------------------------------------------------------


def test_several_codes_at_once_show_only_calls_with_those_codes(staff_client, synced):
    codes = sorted(set(synced.calls.values_list("code", flat=True)))[:2]

    response = staff_client.get(URL, {"code": codes})

    expected = set(synced.calls.filter(code__in=codes).values_list("call_id", flat=True))
    assert set(calls_table_ids(response)) == expected and expected


def test_code_checkboxes_are_grouped_by_category_and_stay_checked(staff_client, synced):
    page = staff_client.get(URL, {"code": "PTP"}).content.decode()

    legends = re.findall(r"<legend>([^<]+)</legend>", page)
    assert legends[0] == "Promise to pay"
    promise_group = page.split("<legend>Promise to pay</legend>", 1)[1].split("</fieldset>")[0]
    assert '<input type="checkbox" name="code" value="PTP" checked>' in promise_group
    assert 'value="D00">' in page.split("<legend>Not connected</legend>", 1)[1]


def test_a_code_nobody_classified_is_offered_under_unclassified(staff_client, bare_task):
    Conclusion.objects.create(code="Zz9", label="Brand new", classified=False)
    make_call(bare_task, "c1", timezone.now(), code="Zz9")

    page = staff_client.get(URL, {"code": "Zz9"}).content.decode()

    assert page.split("<legend>Unclassified</legend>", 1)[1].count('value="Zz9" checked') == 1


def test_task_account_and_status_filters(staff_client, make_task, bare_task):
    other = make_task("66547749", calls=3)
    sync.sync_task(other)
    make_call(bare_task, "mine", timezone.now(), status=7)
    StatusLabel.objects.create(value=7, label="Redialled")

    by_task = staff_client.get(URL, {"task": "777"})
    by_status = staff_client.get(URL, {"status": "7"})
    by_account = staff_client.get(URL, {"account": "collections"})

    assert calls_table_ids(by_task) == ["mine"]
    assert calls_table_ids(by_status) == ["mine"]
    assert "Redialled" in by_status.content.decode()
    assert len(calls_table_ids(by_account)) == 4


def test_the_sandboxs_and_blus_statuses_show_as_words_out_of_the_box(staff_client, make_task):
    sync.sync_task(make_task("66547748", calls=3))  # ended two hours ago
    # Started three seconds ago: the phones ring for five at least.
    sync.sync_task(make_task("66547749", calls=2, minutes_ago=0.05, pace=1))
    assert set(CallRecord.objects.values_list("status", flat=True)) == {1, 2}

    by_status = {value: statuses(staff_client.get(URL, {"status": str(value)})) for value in (1, 2)}

    assert set(by_status[1]) == {"In progress"} and set(by_status[2]) == {"Ended"}


def test_a_status_nobody_labelled_shows_as_itself_and_a_renamed_one_as_named(
    staff_client, bare_task
):
    make_call(bare_task, "odd", status=9)
    make_call(bare_task, "done", status=2)
    StatusLabel.objects.filter(value=2).update(label="Finished")

    assert sorted(statuses(staff_client.get(URL))) == ["9", "Finished"]


def test_a_call_nobody_answered_shows_no_talk_time_rather_than_zero(staff_client, bare_task):
    now = timezone.now()
    make_call(bare_task, "rang-out", now, duration=0, code="D00")
    make_call(bare_task, "talked", now, duration=75, answer_time=now, code="PTP")

    rows = staff_client.get(URL).content.decode().split("<tbody", 1)[1].split("</tr>")
    talked = next(row for row in rows if ">talked<" in row)
    rang_out = next(row for row in rows if ">rang-out<" in row)

    assert "1:15" in talked
    assert "0:00" not in rang_out and "—" in rang_out


def test_talk_time_range_is_inclusive_seconds(staff_client, bare_task):
    now = timezone.now()
    for seconds in (0, 30, 60, 61):
        make_call(bare_task, f"talk-{seconds}", now - timedelta(seconds=seconds), duration=seconds)

    response = staff_client.get(URL, {"talk_min": "30", "talk_max": "60"})

    assert calls_table_ids(response) == ["talk-30", "talk-60"]


def test_search_finds_a_name_or_a_fragment_of_the_masked_phone(staff_client, synced):
    call = synced.calls.order_by("id")[3]
    by_name = staff_client.get(URL, {"q": call.name.split()[0].lower()})
    by_phone = staff_client.get(URL, {"q": call.phone[-4:]})

    assert call.call_id in calls_table_ids(by_name)
    assert call.call_id in calls_table_ids(by_phone)
    assert all(
        call.phone[-4:] in c.phone
        for c in synced.calls.filter(call_id__in=calls_table_ids(by_phone))
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"started_after": "yesterday-ish"}, "Started from: Enter a date as YYYY-MM-DD"),
        ({"talk_min": "-3"}, "Talk from (s): Enter 0 seconds or more."),
        ({"talk_max": "abc"}, "Talk to (s): Enter a whole number of seconds"),
        ({"code": "NOPE"}, "Unknown conclusion code NOPE"),
        ({"status": "two"}, "Status: Enter a status as a whole number"),
        ({"account": "nobody"}, "Account: Select a valid choice."),
        ({"talk_min": "60", "talk_max": "30"}, "The talk time range ends before it starts."),
        (
            {"started_before": "9999-12-31"},
            "Started until: Enter a date between 2000-01-01 and 2100-12-31.",
        ),
        (
            {"started_after": "0001-01-01"},
            "Started from: Enter a date between 2000-01-01 and 2100-12-31.",
        ),
        ({"started_after": "2024-02-30"}, "Started from: Enter a date as YYYY-MM-DD"),
    ],
)
def test_bad_filter_values_get_a_message_next_to_the_form(staff_client, synced, params, message):
    response = staff_client.get(URL, params)

    assert response.status_code == 200
    page = response.content.decode()
    errors = page.split('id="filter-errors"', 1)[1].split("</div>", 1)[0]
    assert message in errors
    assert calls_table_ids(response) == []
    assert "No calls match these filters" in page


# --- sorting and paging --------------------------------------------------------------------------


def test_newest_calls_come_first(staff_client, synced):
    expected = list(synced.calls.order_by("-start_time", "-id").values_list("call_id", flat=True))
    assert calls_table_ids(staff_client.get(URL)) == expected


def test_sorting_by_a_column_changes_the_order_both_ways(staff_client, synced):
    by_talk = list(synced.calls.order_by("duration", "id").values_list("call_id", flat=True))

    ascending = calls_table_ids(staff_client.get(URL, {"sort": "duration"}))
    descending = calls_table_ids(staff_client.get(URL, {"sort": "-duration"}))

    assert ascending == by_talk
    assert descending == by_talk[::-1]
    assert ascending != calls_table_ids(staff_client.get(URL))


def test_every_column_but_the_recording_can_be_sorted(staff_client, synced):
    page = staff_client.get(URL).content.decode()
    head = page.split('class="table calls-table"', 1)[1].split("</thead>", 1)[0]
    headers = re.findall(r"<th ([^>]*)>\s*(.*?)\s*</th>", head, re.S)
    # The limits broken sit in the code's cell (a column of their own only in the export).
    assert len(headers) == 12
    assert not any("Limits broken" in content for _, content in headers)
    for attrs, content in headers:
        assert ("orderable" in attrs) != ("Recording" in content), content


def test_applying_filters_keeps_the_sort(staff_client, synced):
    page = staff_client.get(URL, {"sort": "-duration"}).content.decode()
    form = page.split('<form id="call-filters"', 1)[1].split("</form>", 1)[0]
    assert '<input type="hidden" name="sort" value="-duration">' in form
    assert "Apply filters</button>" in form and ">Clear</a>" in form


def test_pages_follow_each_other_without_counting_the_table(staff_client, bare_task):
    now = timezone.now()
    for n in range(60):
        make_call(bare_task, f"c{n:02d}", now - timedelta(minutes=n))

    with CaptureQueriesContext(connection) as queries:
        first = staff_client.get(URL)
    following = re.search(r'<a href="[^"?]*\?([^"]*)" rel="next"', first.content.decode())
    second = staff_client.get(f"{URL}?{html.unescape(following.group(1))}")
    # An old link by page number still finds its page.
    by_number = staff_client.get(URL, {"page": "2"})

    assert calls_table_ids(first) == [f"c{n:02d}" for n in range(50)]
    assert calls_table_ids(second) == [f"c{n:02d}" for n in range(50, 60)]
    assert calls_table_ids(by_number) == calls_table_ids(second)
    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.parametrize(
    ("per_page", "rows"),
    [
        ("100000", 200),
        ("9" * 25, 200),
        ("120", 120),
        ("-5", 50),
        ("0", 50),
        ("abc", 50),
        ("", 50),
    ],
)
def test_the_page_size_from_the_url_is_capped_and_a_bad_one_means_the_default(
    staff_client, bare_task, per_page, rows
):
    now = timezone.now()
    for n in range(210):
        make_call(bare_task, f"c{n:03d}", now - timedelta(seconds=n))

    response = staff_client.get(URL, {"per_page": per_page})

    assert response.status_code == 200 and len(calls_table_ids(response)) == rows


@pytest.mark.parametrize("page", ["999", "9" * 20, "0", "-3", "two"])
def test_a_page_past_the_end_or_unreadable_shows_the_first(staff_client, synced, page):
    response = staff_client.get(URL, {"page": page})
    assert response.status_code == 200 and len(calls_table_ids(response)) == 30


# --- empty states and hostile text -------------------------------------------------------------


def test_with_no_calls_at_all_the_page_says_how_to_get_some(staff_client):
    page = staff_client.get(URL).content.decode()
    assert "No calls yet" in page and "a manager registers the day" in page


def test_when_filters_match_nothing_the_page_says_how_to_widen_them(staff_client, synced):
    page = staff_client.get(URL, {"q": "nobody-by-this-name"}).content.decode()
    assert "No calls match these filters" in page and "clear the filters" in page
    assert "No calls yet" not in page


def test_hostile_text_from_blu_is_shown_inert(staff_client, bare_task):
    make_call(
        bare_task,
        "<b>id</b>",
        timezone.now(),
        name="<script>alert(1)</script>",
        desc='"><img src=x onerror=alert(2)>',
        phone="<i>0771</i>",
    )

    page = staff_client.get(URL).content.decode()

    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)" in page
    assert "<img src=x" not in page and "<i>0771</i>" not in page and "<b>id</b>" not in page
