"""Hostile query strings on every page: a typo, a crafted link or a scanner never gets a 500."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from calls.ingest import sync
from calls.models import CallRecord, Task
from tests.helpers import dashboard_url

HUGE = "9" * 20
HOSTILE_VALUES = [
    HUGE,
    "-" + HUGE,
    "-1",
    "0",
    "abc",
    "1.5",
    "\x00",
    "a\x00b",
    "x" * 5000,
    "9" * 5000,
    "2024-02-30",
    "9999-12-31",
    "0001-01-01",
    "-",
    "nonexistent",
    "../../x",
    "pdf",
    "<script>",
    "",
]

# What each page reads from its query string.
FILTERS_OF_CALLS = [
    "started_after",
    "started_before",
    "task",
    "account",
    "status",
    "talk_min",
    "talk_max",
    "q",
    "code",
]
FILTERS_OF_TASKS = ["q", "account", "started_after", "started_before", "polled", "sync"]
TABLE = ["sort", "page", "per_page"]
# The calls tables page by cursor in their default order (calls.dashboard.keyset).
KEYSET = ["after", "before", "on_or_before"]
PAGES = {
    "overview": ["fragment"],
    "sync_health": ["fragment"],
    "task_list": FILTERS_OF_TASKS + TABLE,
    "task_detail": TABLE + KEYSET,
    "call_list": FILTERS_OF_CALLS + TABLE + KEYSET + ["_export"],
    "call_detail": ["page"],
    "conclusions": ["page"],
    "borrower_list": ["q", *TABLE],
    "borrower_detail": ["older"],
    "promise_list": ["state", "task", "account", "ends_after", "ends_before", "page", "_export"],
    "review_list": ["day", "state", "page"],
    "review_accuracy": ["days"],
}
CASES = [(page, param) for page, params in PAGES.items() for param in params]


@pytest.fixture
def world(make_task) -> Task:
    task = make_task(calls=5)
    sync.sync_task(task)
    return task


def page_url(name: str, task: Task) -> str:
    return dashboard_url(f"calls:{name}", task, CallRecord.objects.first())


def server_errors(client, url: str, queries: list[dict]) -> list[str]:
    """Each query that made the page fail, with the error, rather than stopping at the first."""
    failed = []
    for query in queries:
        try:
            status = client.get(url, query).status_code
        except Exception as exc:  # the test client re-raises what the view raised
            failed.append(f"{query!r:.80}: {type(exc).__name__}: {exc!s:.200}")
            continue
        if status >= 500:
            failed.append(f"{query!r:.80}: status {status}")
    return failed


@pytest.mark.parametrize("who", ["staff_client", "manager_client"])
@pytest.mark.parametrize(("page", "param"), CASES)
def test_no_hostile_query_value_gives_a_server_error(request, world, who, page, param):
    client = request.getfixturevalue(who)
    url = page_url(page, world)
    queries: list[dict] = [{param: value} for value in HOSTILE_VALUES]
    queries += [{param: ["1", "2"]}, {param: ["2024-01-01", HUGE, "\x00"]}]

    failed = server_errors(client, url, queries)
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("who", ["staff_client", "manager_client"])
@pytest.mark.parametrize("page", list(PAGES))
def test_every_parameter_hostile_at_once_gives_no_server_error(request, world, who, page):
    client = request.getfixturevalue(who)
    queries = [dict.fromkeys(PAGES[page], value) for value in HOSTILE_VALUES]

    failed = server_errors(client, page_url(page, world), queries)
    assert not failed, "\n".join(failed)


# The admins' pages: their tables are rendered whole or paged, whatever the URL says.
ADMIN_PAGES = ["health"]


@pytest.mark.parametrize("param", TABLE)
@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_no_hostile_table_parameter_fails_an_admins_page(admin_client_, world, page, param):
    url = reverse(f"calls:{page}")
    queries: list[dict] = [{param: value} for value in HOSTILE_VALUES]
    queries += [{param: ["1", "2"]}, dict.fromkeys(TABLE, "-1")]

    failed = server_errors(admin_client_, url, queries)
    assert not failed, "\n".join(failed)


def test_a_task_or_call_id_beyond_any_integer_is_not_found(staff_client, world):
    for name in ("task_detail", "call_detail", "call_recording"):
        response = staff_client.get(reverse(f"calls:{name}", args=[int(HUGE)]))
        assert response.status_code == 404, name


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_an_export_with_a_hostile_value_in_every_filter_is_a_file_or_a_message(
    manager_client, world, value
):
    query = dict.fromkeys(FILTERS_OF_CALLS + TABLE, value)

    for export_format in ("csv", "xlsx"):
        response = manager_client.get(
            reverse("calls:call_list"), {**query, "_export": export_format}
        )
        if response.status_code == 200:
            # The file is made while it is sent: read it all.
            b"".join(response.streaming_content if response.streaming else [response.content])
        else:
            assert response.status_code == 302


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1999-12-31", "2101-01-01"])
@pytest.mark.parametrize("param", ["started_after", "started_before"])
def test_a_task_date_outside_the_sane_range_is_refused_next_to_the_form(
    staff_client, world, param, day
):
    response = staff_client.get(reverse("calls:task_list"), {param: day})

    assert response.status_code == 200
    page = response.content.decode()
    assert "Enter a date between 2000-01-01 and 2100-12-31." in page
    assert "No tasks shown: the filters above could not be read." in page
    assert world.blu_task_id not in task_ids(page)


def task_ids(page: str) -> list[str]:
    return re.findall(r'<a href="/tasks/\d+/">([^<]+)</a>', page)


@pytest.mark.parametrize(
    ("per_page", "rows"),
    [("-1", 50), ("0", 50), ("abc", 50), ("\x00", 50), ("10", 10), (HUGE, 60)],
)
def test_the_tasks_page_size_is_capped_and_a_bad_one_means_the_default(
    staff_client, account, per_page, rows
):
    Task.objects.bulk_create(
        Task(account=account, blu_task_id=f"9{n:03d}", name=f"Task {n}") for n in range(60)
    )

    response = staff_client.get(reverse("calls:task_list"), {"per_page": per_page})

    assert response.status_code == 200
    assert len(task_ids(response.content.decode())) == rows
