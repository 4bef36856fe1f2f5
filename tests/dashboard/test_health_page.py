"""The admins' sync-health page, and the flag on every page when an account keeps failing."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from calls.blu.client import BluTaskUnknown
from calls.ingest import summaries, sync
from calls.models import BluAccount, CallRecord, Task
from tests.helpers import (
    APP_KEY,
    WRONG_KEY,
    account_without_blu,
    fail_on_a_wrong_key,
    fail_syncs,
    html_text,
    labelled_section,
    row_cells,
)

HEALTH = reverse("calls:health")
_ids = itertools.count(1)


def row(page: str, attr: str, value: object) -> str:
    """The text of the table row carrying data-<attr>="<value>", or "" when there is none."""
    found = re.search(rf'<tr[^>]*data-{attr}="{value}"[^>]*>(.*?)</tr>', page, re.S)
    return html_text(found.group(1)) if found else ""


@pytest.fixture
def alert_at_3(settings):
    settings.BLUDASH_ACCOUNT_FAILURE_ALERT = 3


@pytest.fixture
def plain_account(db):
    return account_without_blu()


def task_with_open_call(account: BluAccount, blu_id: str, started_hours_ago: float) -> Task:
    """A task with one ended call and one that Blu still reports in progress, summarised."""
    task = Task.objects.create(account=account, blu_task_id=blu_id, name=f"Task {blu_id}")
    now = timezone.now()
    for code, start, end in [
        ("PTP", now - timedelta(hours=started_hours_ago + 1), now),
        ("", now - timedelta(hours=started_hours_ago), None),
    ]:
        CallRecord.objects.create(
            account=account,
            task=task,
            call_id=str(next(_ids)),
            code=code,
            start_time=start,
            end_time=end,
            raw={},
            content_hash="-",
        )
    summaries.refresh_task_summary(task)
    return task


# --- who may see it -----------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get(HEALTH)

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("person", ["outsider", "staff_user", "manager"])
def test_everyone_but_admins_gets_the_polite_page_and_no_data(
    client, request, make_task, sandbox, person
):
    task = make_task(calls=3)
    fail_syncs(sandbox, task, message="a message only admins may read")
    client.force_login(request.getfixturevalue(person))

    response = client.get(HEALTH)

    page = response.content.decode()
    assert response.status_code == 403 and "Ask an administrator" in page
    assert "only admins may read" not in page and 'data-task="' not in page


@pytest.mark.parametrize("person", ["staff_user", "manager"])
def test_the_health_link_is_in_the_menu_of_admins_only(client, request, admin_user, person):
    client.force_login(admin_user)
    assert f'href="{HEALTH}"' in client.get(reverse("calls:overview")).content.decode()

    client.force_login(request.getfixturevalue(person))
    assert f'href="{HEALTH}"' not in client.get(reverse("calls:overview")).content.decode()


# --- what admins see ----------------------------------------------------------------------------


def test_an_account_shows_its_failures_in_a_row_and_blus_message(
    admin_client_, make_task, alert_at_3
):
    fail_on_a_wrong_key(make_task(calls=3), times=3)

    page = admin_client_.get(HEALTH).content.decode()

    line = row_cells(labelled_section(page, "health-accounts"), "account", "collections")
    assert line["Failures in a row"] == "3 in a row" and "sign error" in line["Last error"]
    assert line["Last success"] == "never" and line["Enabled"] == "yes"
    assert WRONG_KEY not in page and APP_KEY not in page


def test_an_account_that_synced_lately_is_not_late_and_one_long_ago_is(
    admin_client_, make_task, settings
):
    task = make_task(calls=3)
    sync.sync_task(task)
    page = admin_client_.get(HEALTH).content.decode()
    assert 'class="failed"' not in labelled_section(page, "health-accounts")

    long_ago = timezone.now() - timedelta(hours=3)  # beyond an hour's quiet poll and two polls
    BluAccount.objects.update(last_success_at=long_ago)
    page = admin_client_.get(HEALTH).content.decode()

    line = re.search(r'data-account="collections".*?</tr>', page, re.S)
    assert line and '<span class="failed">3 h' in line.group(0)


def test_a_failing_task_comes_first_with_its_error_and_a_link_to_it(
    admin_client_, make_task, sandbox
):
    stale, failing, fresh = (make_task(str(66547740 + n), calls=3) for n in range(3))
    for task in (stale, fresh):
        sync.sync_task(task)
    Task.objects.filter(pk=stale.pk).update(last_success_at=timezone.now() - timedelta(days=2))
    fail_syncs(sandbox, failing, times=2, message="task is locked")

    page = admin_client_.get(HEALTH).content.decode()

    tasks = labelled_section(page, "health-tasks")
    order = [int(pk) for pk in re.findall(r'<tr[^>]*data-task="(\d+)"', tasks)]
    assert order == [failing.pk, stale.pk, fresh.pk]
    line = row_cells(tasks, "task", failing.pk)
    assert line["Failures in a row"] == "2" and "task is locked" in line["Last error"]
    assert f'href="{reverse("calls:task_detail", args=[failing.pk])}"' in tasks
    assert row_cells(tasks, "task", stale.pk)["Behind"].startswith("2 d")
    assert row_cells(tasks, "task", fresh.pk)["Last error"] == "—"


def test_tasks_with_a_call_in_progress_for_over_a_day_are_listed_as_stuck(
    admin_client_, plain_account, settings
):
    settings.BLUDASH_STUCK_CALL_HOURS = 24
    stuck = task_with_open_call(plain_account, "1", started_hours_ago=30)
    busy = task_with_open_call(plain_account, "2", started_hours_ago=2)

    page = admin_client_.get(HEALTH).content.decode()

    stuck_section = labelled_section(page, "health-stuck")
    assert row(stuck_section, "task", stuck.pk) and not row(stuck_section, "task", busy.pk)
    assert "1 task with a call in progress for over 1 d" in html_text(stuck_section)
    tasks = labelled_section(page, "health-tasks")
    assert row_cells(tasks, "task", stuck.pk)["Stuck since"] == "1 d 6 h ago"
    assert row_cells(tasks, "task", busy.pk)["In progress"] == "1"
    assert row_cells(tasks, "task", busy.pk)["Stuck since"] == "—"


def test_thousands_of_tasks_are_paged_and_counted_without_reading_a_call(
    admin_client_, plain_account
):
    Task.objects.bulk_create(
        Task(account=plain_account, blu_task_id=str(n), name=f"Task {n}") for n in range(120)
    )
    task_with_open_call(plain_account, "stuck", started_hours_ago=48)

    with CaptureQueriesContext(connection) as queries:
        first = admin_client_.get(HEALTH).content.decode()
    last = admin_client_.get(HEALTH, {"page": 3}).content.decode()

    assert "121 polled tasks" in html_text(first)
    assert len(re.findall(r"<tr[^>]*data-task=", labelled_section(first, "health-tasks"))) == 50
    assert len(re.findall(r"<tr[^>]*data-task=", labelled_section(last, "health-tasks"))) == 21
    assert not [q for q in queries if "calls_callrecord" in q["sql"]]
    assert len(queries) <= 15


def test_the_page_needs_no_inline_style_or_script(admin_client_, make_task, sandbox):
    fail_syncs(sandbox, make_task(calls=3))

    page = admin_client_.get(HEALTH).content.decode()

    assert 'style="' not in page and not re.search(r"<[^>]*\son[a-z]+=", page)
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)


# --- the flag on every page ---------------------------------------------------------------------

PAGES = ["calls:overview", "calls:task_list", "calls:conclusions", "calls:health", "admin:index"]


def flag(page: str) -> str:
    found = re.search(r'class="[^"]*account-alert[^"]*"[^>]*>(.*?)</(div|ul)>', page, re.S)
    return html_text(found.group(1)) if found else ""


@pytest.mark.parametrize("name", PAGES)
def test_an_account_failing_n_times_in_a_row_is_flagged_on_every_page_for_admins(
    admin_client_, make_task, sandbox, alert_at_3, name
):
    fail_syncs(sandbox, make_task(calls=3), times=3)

    page = admin_client_.get(reverse(name)).content.decode()

    assert "Blu account collections has failed 3 syncs in a row" in flag(page)
    assert f'href="{HEALTH}"' in page


def test_one_failure_short_of_n_raises_no_flag(admin_client_, make_task, sandbox, alert_at_3):
    fail_syncs(sandbox, make_task(calls=3), times=2)

    assert not flag(admin_client_.get(reverse("calls:overview")).content.decode())


def test_a_success_takes_the_flag_down(admin_client_, make_task, sandbox, alert_at_3):
    task = make_task(calls=3)
    fail_syncs(sandbox, task, times=3)
    sync.sync_task(task)

    assert not flag(admin_client_.get(reverse("calls:overview")).content.decode())


def test_a_disabled_account_is_not_flagged(admin_client_, make_task, sandbox, alert_at_3):
    fail_syncs(sandbox, make_task(calls=3), times=3)
    BluAccount.objects.update(is_polled=False)

    assert not flag(admin_client_.get(reverse("calls:overview")).content.decode())


@pytest.mark.parametrize("person", ["staff_user", "manager"])
def test_staff_and_managers_never_see_the_flag_nor_pay_for_it(
    client, request, make_task, sandbox, alert_at_3, person
):
    fail_syncs(sandbox, make_task(calls=3), times=3)
    client.force_login(request.getfixturevalue(person))

    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("calls:conclusions")).content.decode()

    assert not flag(page) and "syncs in a row" not in page
    assert not [q for q in queries if 'consecutive_failures" >=' in q["sql"]]


def test_the_flag_costs_admins_one_small_query_on_accounts(
    admin_client_, make_task, sandbox, alert_at_3
):
    fail_syncs(sandbox, make_task(calls=3), times=3)

    with CaptureQueriesContext(connection) as queries:
        admin_client_.get(reverse("calls:conclusions"))

    flag_queries = [q["sql"] for q in queries if 'consecutive_failures" >=' in q["sql"]]
    assert len(flag_queries) == 1 and "calls_task" not in flag_queries[0]


def test_the_admin_keeps_its_own_branding_under_the_flag(
    admin_client_, make_task, sandbox, alert_at_3
):
    fail_syncs(sandbox, make_task(calls=3), times=3)

    page = admin_client_.get(reverse("admin:calls_bluaccount_changelist")).content.decode()

    assert "bludash administration" in page and flag(page)
    assert 'style="' not in flag(page)


# --- tasks Blu does not know --------------------------------------------------------------------


def test_a_task_blu_does_not_know_says_so_while_retried_and_once_given_up(
    admin_client_, account, settings
):
    settings.BLUDASH_UNKNOWN_TASK_TRIES = 4
    retried = Task.objects.create(account=account, blu_task_id="404001", name="Typo")
    stopped = Task.objects.create(account=account, blu_task_id="404002", learned_from_callback=True)
    for task, times in [(retried, 2), (stopped, 4)]:
        for _ in range(times):
            with pytest.raises(BluTaskUnknown):
                sync.sync_task(task)

    page = admin_client_.get(HEALTH).content.decode()

    tasks = labelled_section(page, "health-tasks")
    error = row_cells(tasks, "task", retried.pk)["Last error"]
    assert error.startswith("Blu does not know this task: asked 2 times, next try at ")
    assert error.endswith("(polling stops after 4)")
    assert not row(tasks, "task", stopped.pk)  # no longer polled
    unknown = labelled_section(page, "health-unknown")
    line = row_cells(unknown, "task", stopped.pk)
    assert line["State"] == "Blu does not know this task: stopped polling after 4 tries"
    assert line["Named by"] == "a callback" and line["Calls stored"] == "0"
    assert "register it again" in html_text(unknown)
    assert not row(unknown, "task", retried.pk)


def test_a_task_page_says_polling_stopped_because_blu_does_not_know_it(admin_client_, account):
    task = Task.objects.create(
        account=account, blu_task_id="404003", is_polled=False, blu_unknown_tries=4
    )
    response = admin_client_.get(reverse("calls:task_detail", args=[task.pk]))

    page = html_text(response.content.decode())

    assert "Polled no: Blu does not know this task (stopped polling after 4 tries)" in page
