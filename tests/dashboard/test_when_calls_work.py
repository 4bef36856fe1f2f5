"""When calls work: the right-party and promise rates by weekday and hour of the company's zone,
read from the accounts' hour rows, which every write keeps in agreement with a recount of the
calls (through a code or a start time changing, a reclassification, `blu summaries` and
`blu verify --fix`)."""

from __future__ import annotations

import importlib
import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from calls.dashboard import hours
from calls.ingest import summaries, verify
from calls.models import AccountHourSummary, BluAccount, CallRecord, Conclusion
from tests.helpers import BLU_EXAMPLE, html_text, post_callback

PAGE = reverse("calls:when_calls_work")
FORMAT = "%Y-%m-%d %H:%M:%S"


@pytest.fixture
def colombo(settings):
    """The company in Asia/Colombo (UTC+05:30); the account's Blu reports times in UTC."""
    settings.TIME_ZONE = "Asia/Colombo"
    return settings


@pytest.fixture
def utc_account(account):
    BluAccount.objects.filter(pk=account.pk).update(time_zone="UTC")
    account.refresh_from_db()
    return account


def recent(weekday: int, hour: int, minute: int = 0) -> datetime:
    """A UTC time on the last `weekday` (0 = Monday) at least two days ago, well within the
    page's 30 days."""
    day = timezone.now().astimezone(UTC).date() - timedelta(days=2)
    while day.weekday() != weekday:
        day -= timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def call(call_id: str, started: datetime, code: str = "PTP", task: str = "777") -> dict:
    return {
        **BLU_EXAMPLE,
        "taskId": task,
        "callId": call_id,
        "code": code,
        "recordUrl": "",
        "startTime": started.strftime(FORMAT),
        "answerTime": (started + timedelta(seconds=5)).strftime(FORMAT),
        "endTime": (started + timedelta(seconds=50)).strftime(FORMAT),
    }


def send(client, account, *records, task: str = "777") -> None:
    for first in range(0, len(records), 10):  # Blu sends at most ten a callback
        body = {"taskId": task, "records": list(records[first : first + 10])}
        response = post_callback(client, account, body)
        assert response.status_code == 200, response.content


def cells(page: str, grid: str) -> dict[tuple[str, int], tuple[str, str, str]]:
    """The grid's cells that hold calls: (weekday, hour) -> (text, class, title)."""
    table = re.search(rf'<table class="heat" id="{grid}">(.*?)</table>', page, re.S)
    assert table, grid
    found = {}
    for weekday, row in re.findall(r'<tr data-weekday="(\w+)">(.*?)</tr>', table.group(1), re.S):
        for cls, hour, title, label, text in re.findall(
            r'<td class="num ([\w-]+)" data-hour="(\d+)"'
            r'(?: title="([^"]*)" aria-label="([^"]*)")?>([^<]*)</td>',
            row,
        ):
            if title:
                # A screen reader is given what the tooltip gives a mouse.
                assert label == title
                found[(weekday, int(hour))] = (text, cls, title)
    return found


def assert_hours_agree_with_the_calls(account) -> None:
    assert verify.account_drift(account) == []


def test_a_call_at_23_30_utc_is_counted_on_the_next_day_at_05_in_colombo(
    client, utc_account, colombo, staff_client
):
    send(client, utc_account, call("late", recent(1, 23, 30)))  # a Tuesday, 23:30 UTC

    page = staff_client.get(PAGE).content.decode()

    found = cells(page, "right-party-rate")
    assert list(found) == [("Wed", 5)]
    text, cls, title = found[("Wed", 5)]
    assert (text, cls) == ("few", "heat-few")
    assert title == (
        "Wed 05:00 — 1 call, 1 right party (100.0% of calls), 1 promise (100.0% of right party)"
        ": too few to rate (under 20)"
    )
    assert list(cells(page, "promise-rate")) == [("Wed", 5)]
    assert_hours_agree_with_the_calls(utc_account)


def test_each_cell_shows_its_rates_coloured_and_its_counts_on_hover(
    client, utc_account, colombo, staff_client
):
    monday_10 = recent(0, 4, 30)  # 10:00 in Colombo
    records = [call(f"n{n}", monday_10 + timedelta(minutes=n), "NotOneself") for n in range(15)]
    records += [call(f"p{n}", monday_10 + timedelta(minutes=n), "PTP") for n in range(20)]
    records += [call(f"r{n}", monday_10 + timedelta(minutes=n), "NOST") for n in range(5)]
    send(client, utc_account, *records)

    page = staff_client.get(PAGE).content.decode()

    text, cls, title = cells(page, "right-party-rate")[("Mon", 10)]
    assert title == (
        "Mon 10:00 — 40 calls, 25 right party (62.5% of calls), 20 promises (80.0% of right party)"
    )
    assert text == "62%"
    assert cls == "heat-4"  # the highest rate shown is in the darkest band
    promise_text, promise_cls, _ = cells(page, "promise-rate")[("Mon", 10)]
    assert (promise_text, promise_cls) == ("80%", "heat-4")
    # The legend says what each colour means, up to the highest rate rounded up to 5%.
    assert "0\u201313%" in html_text(page) and "52\u201365%" in html_text(page)


def test_a_code_and_a_start_time_changing_move_the_call_between_cells(
    client, utc_account, colombo, staff_client
):
    started = recent(2, 3)  # Wednesday 08:30 in Colombo
    send(client, utc_account, call("c1", started, code=""))  # in progress
    send(client, utc_account, call("c2", started, code="NotOneself"))
    assert_hours_agree_with_the_calls(utc_account)

    send(client, utc_account, call("c1", started, code="PTP"))  # it ended with a promise
    send(client, utc_account, call("c2", started + timedelta(hours=5)))  # re-timed, a promise

    assert_hours_agree_with_the_calls(utc_account)
    page = staff_client.get(PAGE).content.decode()
    found = cells(page, "right-party-rate")
    assert found[("Wed", 8)][2].startswith("Wed 08:00 — 1 call, 1 right party")
    assert found[("Wed", 13)][2].startswith("Wed 13:00 — 1 call, 1 right party")


def test_reclassifying_a_code_changes_the_rates_without_touching_a_row(
    client, utc_account, colombo, staff_client
):
    send(client, utc_account, call("w1", recent(3, 6), code="Willing"))
    rows = list(AccountHourSummary.objects.values_list("pk", "calls"))
    before = cells(staff_client.get(PAGE).content.decode(), "promise-rate")
    assert ", 0 promises (0.0% of right party)" in before[("Thu", 11)][2]

    Conclusion.objects.filter(code="Willing").update(
        classified=True, right_party=True, promise_to_pay=True
    )
    summaries.apply_conclusion_flags()  # what the Conclusions page and the admin do on a save

    after = cells(staff_client.get(PAGE).content.decode(), "promise-rate")
    assert ", 1 promise (100.0% of right party)" in after[("Thu", 11)][2]
    assert list(AccountHourSummary.objects.values_list("pk", "calls")) == rows


def test_the_period_and_account_filters_choose_the_calls(
    client, utc_account, colombo, staff_client
):
    send(client, utc_account, call("old", recent(0, 4) - timedelta(days=35)))
    send(client, utc_account, call("new", recent(0, 4)))

    assert len(cells(staff_client.get(PAGE).content.decode(), "right-party-rate")) == 1
    ninety = staff_client.get(PAGE, {"days": "90"}).content.decode()
    assert "2 calls" in cells(ninety, "right-party-rate")[("Mon", 9)][2]
    other = BluAccount(name="other", base_url="https://blu.invalid", app_id="9", time_zone="UTC")
    other.set_app_key("other-app-key-0123456789")
    other.save()
    one = staff_client.get(PAGE, {"days": "90", "account": str(other.pk)}).content.decode()
    assert cells(one, "right-party-rate") == {}
    # Anything else is every account, over the default 30 days: nothing to refuse on a view.
    assert staff_client.get(PAGE, {"days": "x", "account": "y"}).status_code == 200


def test_the_page_reads_the_hour_rows_and_never_the_calls(client, utc_account, staff_client):
    send(client, utc_account, *[call(f"c{n}", recent(4, 9, n)) for n in range(5)])

    with CaptureQueriesContext(connection) as queries:
        assert staff_client.get(PAGE).status_code == 200

    read = " ".join(q["sql"] for q in queries.captured_queries)
    assert CallRecord._meta.db_table not in read
    assert AccountHourSummary._meta.db_table in read


def test_blu_summaries_and_verify_fix_rebuild_the_hour_rows(client, utc_account, colombo):
    send(client, utc_account, call("a", recent(0, 4)), call("b", recent(1, 20, 45), "AP"))
    kept = sorted(AccountHourSummary.objects.values_list("day", "hour", "code", "calls"))
    assert len(kept) == 2

    AccountHourSummary.objects.all().delete()
    call_command("blu", "summaries", stdout=StringIO())
    assert sorted(AccountHourSummary.objects.values_list("day", "hour", "code", "calls")) == kept

    AccountHourSummary.objects.filter(code="AP").update(calls=9)
    AccountHourSummary.objects.filter(code="PTP").delete()
    lines = verify.account_drift(utc_account)
    assert any("code AP is 9 calls, the calls say 1" in line for line in lines)
    assert verify.verify_figures(fix=True).accounts_drifted == 1
    assert sorted(AccountHourSummary.objects.values_list("day", "hour", "code", "calls")) == kept


def test_the_migration_counts_the_calls_already_stored(client, utc_account, colombo):
    send(client, utc_account, call("a", recent(5, 23, 30)), call("b", recent(5, 23, 50), "AP"))
    kept = sorted(AccountHourSummary.objects.values_list("account", "day", "hour", "code", "calls"))
    AccountHourSummary.objects.all().delete()

    migration = importlib.import_module("calls.migrations.0024_hour_summaries")
    migration.count_account_hours(apps, None)

    assert (
        sorted(AccountHourSummary.objects.values_list("account", "day", "hour", "code", "calls"))
        == kept
    )
    saturday = recent(5, 0).date()
    assert {row[1:3] for row in kept} == {(saturday + timedelta(days=1), 5)}


def test_the_grid_is_seven_days_of_24_hours_monday_first():
    grids = hours.grids({}, {})
    assert [grid.name for grid in grids] == ["Right-party rate", "Promise rate"]
    for grid in grids:
        assert [weekday for weekday, _cells in grid.rows] == hours.WEEKDAYS
        assert all(len(row) == 24 for _weekday, row in grid.rows)
        assert all(cell.shown == "" for _w, row in grid.rows for cell, _band in row)
