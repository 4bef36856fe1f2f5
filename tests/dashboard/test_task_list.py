"""The tasks table: one row per task with its counts and rates, sortable, filterable."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from calls.ingest import summaries, sync
from calls.models import Conclusion, Task
from tests.helpers import account_without_blu, fail_on_a_wrong_key

URL = reverse("calls:task_list")


def task_ids(page: str) -> list[str]:
    """The Blu task ids in the table, top to bottom."""
    return re.findall(r'<td ><a href="/tasks/\d+/">([^<]+)</a></td>', page)


@pytest.fixture
def three_tasks(make_task):
    """Three synced tasks of different sizes; the last is not polled any more."""
    tasks = [
        make_task("66547748", calls=30),
        make_task("66547749", calls=12, seed=2),
        make_task("70000001", calls=5, seed=3),
    ]
    for task in tasks:
        sync.sync_task(task)
        task.refresh_from_db()
    Task.objects.filter(pk=tasks[2].pk).update(is_polled=False, name="Pre-due reminder")
    return tasks


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get(URL)

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_someone_in_no_group_gets_the_polite_no_access_page(client, outsider):
    client.force_login(outsider)

    response = client.get(URL)

    assert response.status_code == 403 and b"not in any bludash group yet" in response.content


def test_an_empty_tasks_page_says_what_to_do(staff_client):
    page = staff_client.get(URL).content.decode()

    assert "No tasks yet" in page and "a manager registers the day" in page


def test_each_task_shows_its_counts_rates_and_outcome_mix(staff_client, make_task):
    task = make_task(calls=20)
    sync.sync_task(task)
    task.refresh_from_db()
    right_party = sum(
        n for code, n in task.code_counts.items() if Conclusion.by_code()[code].right_party
    )

    page = staff_client.get(URL).content.decode()

    assert task.blu_task_id in page and task.account.name in page
    assert f"{task.calls_connected} connected calls / 20 calls placed" in page
    assert f"{task.calls_promised} promises to pay / {right_party} right-party contacts" in page
    top_code = max(task.code_counts, key=task.code_counts.get)
    assert f"{top_code} {task.code_counts[top_code]}" in page  # in the outcome bar's tooltip
    assert '<svg class="mix"' in page and 'style="' not in page
    assert '<span class="ok">ok</span>' in page


def test_a_failed_sync_shows_as_failed_with_its_error(staff_client, make_task):
    fail_on_a_wrong_key(make_task(calls=3))

    page = staff_client.get(URL).content.decode()

    assert re.search(r'<span class="failed" title="[^"]*sign error[^"]*">failed</span>', page)
    assert 'id="sync-health"' in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=66547", ["66547749", "66547748"]),  # an id prefix
        ("q=665477489", []),  # not a prefix of any id
        ("q=reminder", ["70000001"]),  # part of a name
        ("account=collections", ["66547749", "66547748", "70000001"]),
        ("polled=yes", ["66547749", "66547748"]),
        ("polled=no", ["70000001"]),
        ("sync=ok", ["66547749", "66547748", "70000001"]),
        ("sync=failed", []),
    ],
)
def test_the_filters_narrow_the_table(staff_client, three_tasks, query, expected):
    page = staff_client.get(f"{URL}?{query}&sort=blu_task_id").content.decode()

    assert sorted(task_ids(page)) == sorted(expected)
    if not expected:
        assert "No tasks match these filters." in page


def test_the_date_filter_keeps_tasks_with_any_call_in_the_range(staff_client, three_tasks):
    old = three_tasks[0]
    Task.objects.filter(pk=old.pk).update(
        first_call_at=datetime(2024, 3, 1, 9, tzinfo=UTC),
        last_call_at=datetime(2024, 3, 5, 18, tzinfo=UTC),
    )

    def shown(query: str) -> list[str]:
        return task_ids(staff_client.get(f"{URL}?{query}").content.decode())

    assert shown("started_after=2024-03-05&started_before=2024-03-05") == [old.blu_task_id]
    assert shown("started_after=2024-03-03&started_before=2024-03-04") == [old.blu_task_id]
    assert shown("started_after=2024-02-01&started_before=2024-02-29") == []
    assert old.blu_task_id not in shown("started_after=2024-03-06")


def test_another_accounts_tasks_are_filtered_out(staff_client, three_tasks):
    other = account_without_blu("reminders", app_id="2")
    Task.objects.create(account=other, blu_task_id="90000001")

    page = staff_client.get(f"{URL}?account=reminders").content.decode()

    assert task_ids(page) == ["90000001"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("started_after=yesterday", "Calls from: Enter a date as YYYY-MM-DD"),
        ("polled=maybe", "Polled: Choose polled, not polled, or either."),
        ("account=nobody", "Account: There is no account by that name."),
        (
            "started_after=2024-03-05&started_before=2024-03-01",
            "Calls until: The date range ends before it starts.",
        ),
    ],
)
def test_a_filter_that_cannot_be_read_says_why(staff_client, three_tasks, query, message):
    response = staff_client.get(f"{URL}?{query}")

    page = response.content.decode()
    assert response.status_code == 200
    assert message in page and "Some filters could not be read" in page
    assert task_ids(page) == []


@pytest.mark.parametrize(
    ("column", "key"),
    [
        ("calls_total", lambda t: t.calls_total),
        ("connect_rate", lambda t: t.calls_connected / t.calls_total),
        ("share_finished", lambda t: t.calls_final / t.calls_total),
        ("average_talk", lambda t: t.talk_seconds / t.calls_answered),
        ("blu_task_id", lambda t: t.blu_task_id),
    ],
)
def test_every_column_sorts_both_ways(staff_client, three_tasks, column, key):
    ascending = [t.blu_task_id for t in sorted(three_tasks, key=lambda t: (key(t), t.pk))]
    descending = [
        t.blu_task_id for t in sorted(three_tasks, key=lambda t: (key(t), t.pk), reverse=True)
    ]

    up = task_ids(staff_client.get(f"{URL}?sort={column}").content.decode())
    down = task_ids(staff_client.get(f"{URL}?sort=-{column}").content.decode())

    assert up == ascending and down == descending


def test_the_promise_rate_sorts_by_promises_over_right_party_contacts(staff_client, make_task):
    low, high, empty = make_task("1", calls=1), make_task("2", calls=1), make_task("3", calls=1)
    Task.objects.filter(pk=low.pk).update(calls_total=10, code_counts={"PTP": 1, "NOST": 9})
    Task.objects.filter(pk=high.pk).update(calls_total=100, code_counts={"PTP": 2, "D00": 98})
    summaries.apply_conclusion_flags()

    up = task_ids(staff_client.get(f"{URL}?sort=promise_rate").content.decode())
    down = task_ids(staff_client.get(f"{URL}?sort=-promise_rate").content.decode())

    # 1 / 10 right-party contacts beats 2 / 2 the other way round; a task without any sorts last.
    assert up == ["1", "2", "3"] and down == ["2", "1", "3"]
    assert empty.calls_total == 0


def test_numeric_codes_count_in_the_rates_shown_and_sorted(staff_client, make_task):
    # Blu robots may define codes such as "7"; a JSON key lookup in SQL reads it as an index.
    right_party = dict.fromkeys(["connected", "live_person", "right_party"], True)
    Conclusion.objects.create(code="7", label="Seven", promise_to_pay=True, **right_party)
    Conclusion.objects.create(code="8", label="Eight", **right_party)
    numeric, named = make_task("1", calls=1), make_task("2", calls=1)
    Task.objects.filter(pk=numeric.pk).update(calls_total=10, code_counts={"7": 4, "8": 3})
    Task.objects.filter(pk=named.pk).update(calls_total=10, code_counts={"PTP": 1, "NOST": 1})
    summaries.apply_conclusion_flags()

    page = staff_client.get(f"{URL}?sort=promise_rate").content.decode()

    assert "4 promises to pay / 7 right-party contacts" in page
    assert "57.1%" in page
    assert task_ids(page) == ["2", "1"]  # 1 / 2 before 4 / 7


def test_an_unknown_sort_column_is_ignored(staff_client, three_tasks):
    response = staff_client.get(f"{URL}?sort=password")

    assert response.status_code == 200 and len(task_ids(response.content.decode())) == 3


def test_a_page_past_the_end_shows_the_last_page(staff_client, three_tasks):
    response = staff_client.get(f"{URL}?page=99")

    assert response.status_code == 200 and len(task_ids(response.content.decode())) == 3


def test_times_are_shown_in_the_companys_zone(staff_client, three_tasks, settings):
    settings.TIME_ZONE = "Asia/Colombo"
    Task.objects.filter(pk=three_tasks[0].pk).update(
        first_call_at=datetime(2024, 3, 1, 20, 0, tzinfo=UTC)
    )

    page = staff_client.get(URL).content.decode()

    assert "2024-03-02 01:30" in page and "times in Asia/Colombo" in page


def test_by_default_the_most_recently_dialled_task_comes_first_and_empty_ones_last(
    staff_client, three_tasks, make_task
):
    make_task("80000001", calls=0)  # registered, nothing dialled yet
    Task.objects.filter(pk=three_tasks[1].pk).update(
        last_call_at=datetime(2030, 1, 1, tzinfo=UTC)  # the latest call of all
    )

    shown = task_ids(staff_client.get(URL).content.decode())

    assert shown[0] == three_tasks[1].blu_task_id and shown[-1] == "80000001"
