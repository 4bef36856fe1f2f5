"""The promises page (states with counts, filters, export), promises and repayments on the
borrower page, and the managers' upload of a repayments file: a preview and a per-row error
report, nothing saved until confirmed."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from calls.models import AuditEvent, Repayment
from tests.helpers import ZONE, html_text

_FORMAT = "%Y-%m-%d %H:%M:%S"


def _local(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(ZONE)).strftime(_FORMAT)


@pytest.fixture
def world(call, pay, make_task, settings):
    """U1 due now, U2 broken, U3 kept, U4 not yet due, U5 claimed paid; U6 on another task."""
    settings.BLUDASH_PROMISE_GRACE_HOURS = 1
    now = datetime.now(ZoneInfo(ZONE)).replace(microsecond=0)
    hour = timedelta(hours=1)
    # Due today: its window ends later today (in the last minute of a day, only just).
    end_of_today = now.replace(hour=23, minute=59, second=59)
    due_by = min(now + hour, max(end_of_today, now + timedelta(seconds=1)))
    call("d1", borrower="U1", at=_local(now - hour), slot=[_local(now - hour), _local(due_by)])
    call(
        "b1",
        borrower="U2",
        at=_local(now - 9 * hour),
        slot=[_local(now - 8 * hour), _local(now - 3 * hour)],
    )
    call(
        "k1",
        borrower="U3",
        at=_local(now - 9 * hour),
        slot=[_local(now - 8 * hour), _local(now - 3 * hour)],
    )
    call(
        "o1",
        borrower="U4",
        at=_local(now - hour),
        slot=[_local(now + 30 * hour), _local(now + 33 * hour)],
    )
    call("c1", borrower="U5", at=_local(now - 9 * hour), slot=None)
    call("c2", borrower="U5", at=_local(now - 8 * hour), code="AP")
    other = make_task("7002", calls=0)
    call(
        "x1",
        borrower="U6",
        at=_local(now - 9 * hour),
        slot=[_local(now - 8 * hour), _local(now - 3 * hour)],
        on_task=other,
    )
    pay(f"U3,500,{_local(now - 4 * hour)},,K-1")
    return other


def _promises(client, **query):
    return client.get(reverse("calls:promise_list"), query)


def _count(text: str, label: str) -> int:
    return int(text.split(label, 1)[1].split()[0])


def test_each_state_has_its_count_and_its_promises(world, staff_client):
    text = html_text(_promises(staff_client).content.decode())
    assert _count(text, "due today") == 1
    assert _count(text, "broken") == 2
    assert _count(text, "kept") == 1
    assert _count(text, "not yet due") == 1
    assert _count(text, "claimed paid") == 1

    due = _promises(staff_client).content.decode()
    assert reverse("calls:borrower_detail", kwargs={"key": "U1"}) in due
    broken = html_text(_promises(staff_client, state="broken").content.decode())
    assert "U2" in broken and "U6" in broken and "U3" not in broken
    kept = _promises(staff_client, state="kept").content.decode()
    assert reverse("calls:borrower_detail", kwargs={"key": "U3"}) in kept


def test_due_today_lists_what_is_due_by_the_end_of_today_and_not_yet_due_the_rest(
    call, staff_client
):
    """A window open now that ends tomorrow is not due today: "not yet due" lists it (every
    open promise is in one of the two until its window ends), and each count is its list."""
    now = datetime.now(ZoneInfo(ZONE)).replace(microsecond=0)
    tomorrow_noon = (now + timedelta(days=1)).replace(hour=12, minute=0, second=0)
    call("t1", borrower="U7", at=_local(now), slot=[_local(now), _local(tomorrow_noon)])

    text = html_text(_promises(staff_client).content.decode())
    assert _count(text, "due today") == 0 and _count(text, "not yet due") == 1
    assert "U7" not in text
    later = html_text(_promises(staff_client, state="open").content.decode())
    assert "U7" in later


def test_a_tab_counts_up_to_its_cap_and_then_says_so(world, staff_client, monkeypatch):
    from calls.dashboard import promises as promise_pages

    monkeypatch.setattr(promise_pages, "COUNT_CAP", 1)
    text = html_text(_promises(staff_client).content.decode())
    assert text.split("broken", 1)[1].split()[0] == "1+"
    assert _count(text, "due today") == 1


def test_filters_by_task_account_and_period(world, staff_client, make_task):
    by_task = html_text(_promises(staff_client, state="broken", task="7002").content.decode())
    assert _count(by_task, "broken") == 1 and "U6" in by_task and "U2" not in by_task

    by_account = html_text(_promises(staff_client, account="collections").content.decode())
    assert _count(by_account, "broken") == 2

    past = html_text(
        _promises(staff_client, ends_after="2020-01-01", ends_before="2020-01-31").content.decode()
    )
    assert _count(past, "broken") == 0 and _count(past, "kept") == 0


def test_a_bad_filter_is_said_and_shows_the_default(world, staff_client):
    text = html_text(_promises(staff_client, ends_after="not a date").content.decode())
    assert "Enter a valid date" in text and _count(text, "broken") == 2


def test_managers_export_a_state_as_csv(world, manager_client):
    response = manager_client.get(
        reverse("calls:promise_list"), {"state": "broken", "_export": "csv"}
    )
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    header, *rows = csv.DictReader(io.StringIO(body)), None
    rows = list(header)
    assert sorted(row["Borrower"] for row in rows) == ["U2", "U6"]
    assert {row["State"] for row in rows} == {"broken"}
    assert all(row["Call"] and row["Window to"] for row in rows)
    event = AuditEvent.objects.get(action="export")
    assert (
        event.details == {"format": "csv", "filter": "state=broken", "rows": 2, "complete": True}
        and event.target == "promises"
    )


def test_staff_may_not_export(world, staff_client):
    refused = staff_client.get(reverse("calls:promise_list"), {"_export": "csv"})
    assert refused.status_code == 403


def test_the_borrower_page_shows_promises_and_repayments(world, staff_client):
    page = html_text(
        staff_client.get(reverse("calls:borrower_detail", kwargs={"key": "U3"})).content.decode()
    )
    promises = page.split("Promises", 1)[1]
    assert "kept" in promises and "500.00" in promises and "K-1" in promises


def _upload(client, text: str, **extra):
    data = {"account": "collections", "file": SimpleUploadedFile("pay.csv", text.encode()), **extra}
    return client.post(reverse("calls:repayment_upload"), data)


def test_an_upload_is_previewed_and_saved_only_when_confirmed(world, manager_client):
    now = datetime.now(ZoneInfo(ZONE)) - timedelta(minutes=5)
    response = _upload(
        manager_client, f"borrower,amount,paid_at,reference\nU1,200,{_local(now)},R-9\n"
    )
    page = response.content.decode()
    assert "1 new, 0 already stored" in html_text(page)
    assert not Repayment.objects.filter(reference="R-9").exists()

    token = page.split('name="confirm" value="', 1)[1].split('"', 1)[0]
    done = manager_client.post(reverse("calls:repayment_upload"), {"confirm": token}, follow=True)
    assert "1 repayment imported to collections" in html_text(done.content.decode())
    assert Repayment.objects.get(reference="R-9").source == "upload"
    # Confirmed once: the same token saves nothing again.
    again = manager_client.post(reverse("calls:repayment_upload"), {"confirm": token}, follow=True)
    assert "no longer waiting" in html_text(again.content.decode())


def test_an_upload_with_a_bad_row_reports_it_and_offers_nothing_to_confirm(world, manager_client):
    response = _upload(
        manager_client,
        "borrower,amount,paid_at\nU1,200,2024-01-01 10:00:00\nU1,lots,2024-01-01 10:00:00\n",
    )
    page = response.content.decode()
    text = html.unescape(html_text(page))
    assert "Nothing was saved: 1 bad row" in text
    assert "3 amount 'lots' is not a number" in text
    assert 'name="confirm"' not in page
    assert not Repayment.objects.filter(paid_at__year=2024).exists()


def test_only_those_who_may_import_see_the_upload(world, staff_client):
    assert staff_client.get(reverse("calls:repayment_upload")).status_code == 403
    assert "Upload repayments" not in _promises(staff_client).content.decode()


def test_the_overview_and_the_task_page_show_the_promise_kept_rate(world, staff_client, task):
    overview = staff_client.get(reverse("calls:overview")).content.decode()
    cells = re.findall(r'data-kpi="kept-rate">(.*?)</td>', overview, re.S)
    # 7 and 30 days (today's depends on the hour): the windows of b1, k1 and x1 ended, k1 kept.
    assert len(cells) == 3
    assert all("33.3%" in html_text(cell) and "1 / 3" in html_text(cell) for cell in cells[1:])

    page = staff_client.get(reverse("calls:task_detail", args=[task.pk])).content.decode()
    assert "50.0% 1 / 2 promises whose window ended" in html_text(page)
    other = staff_client.get(reverse("calls:task_detail", args=[world.pk])).content.decode()
    assert "0.0% 0 / 1 promises whose window ended" in html_text(other)
