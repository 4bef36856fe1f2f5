"""The overview (home page): calls and outcome rates for today, 7 and 30 days, the chart of
conclusions per day, and the sync-health strip, with the fragments that refresh them."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from calls.ingest import summaries, sync
from calls.models import CallRecord, Conclusion, Task
from tests.helpers import WRONG_KEY, fail_on_a_wrong_key, html_text

OVERVIEW = reverse("calls:overview")
NUMBERS = OVERVIEW + "?fragment=numbers"
HEALTH = reverse("calls:sync_health")


def cells(page: str, kpi: str) -> list[str]:
    """The text of a KPI's cells, today / 7 days / 30 days, tags stripped."""
    found = re.findall(rf'data-kpi="{kpi}"[^>]*>(.*?)</td>', page, re.S)
    return [html_text(cell) for cell in found]


def company_today():
    return timezone.localdate(timezone=ZoneInfo(settings.TIME_ZONE))


def expected(days: int) -> dict[str, int]:
    """The period's counts straight from the calls, as a person would count them."""
    zone = ZoneInfo(settings.TIME_ZONE)
    today = company_today()
    first = today - timedelta(days=days - 1)
    flags = {c.code: c for c in Conclusion.objects.filter(classified=True)}
    calls = [
        c
        for c in CallRecord.objects.all()
        if c.start_time and first <= c.start_time.astimezone(zone).date() <= today
    ]

    def flagged(flag: str) -> int:
        return sum(1 for c in calls if c.code in flags and getattr(flags[c.code], flag))

    return {
        "placed": len(calls),
        "in_progress": sum(1 for c in calls if not c.code and c.end_time is None),
        # A call that ended without a code has an unknown outcome: unclassified.
        "unclassified": sum(
            1 for c in calls if c.code not in flags and (c.code or c.end_time is not None)
        ),
        "connected": flagged("connected"),
        "live": flagged("live_person"),
        "right_party": flagged("right_party"),
        "promises": flagged("promise_to_pay"),
        "already_paid": flagged("already_paid"),
        "complaints": flagged("complaint"),
    }


def pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f}%" if d else "—"


# --- who may see it ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", [OVERVIEW, NUMBERS, HEALTH])
def test_anonymous_visitors_are_sent_to_sign_in(client, db, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("url", [OVERVIEW, NUMBERS, HEALTH])
def test_someone_in_no_group_gets_the_polite_no_access_page(client, outsider, url):
    client.force_login(outsider)

    response = client.get(url)

    assert response.status_code == 403
    assert b"not in any bludash group yet" in response.content


def test_an_empty_overview_says_who_registers_tasks(staff_client):
    page = staff_client.get(OVERVIEW).content.decode()

    assert "No tasks yet" in page and "a manager registers the day" in page
    assert "Nothing to sync yet" in page


# --- the numbers ------------------------------------------------------------------------------


def test_the_overview_counts_match_the_calls_synced_from_blu(staff_client, make_task):
    sync.sync_task(make_task("66547748", calls=40))
    sync.sync_task(make_task("66547749", calls=25, minutes_ago=600, seed=3))

    page = staff_client.get(OVERVIEW).content.decode()

    counts = [expected(days) for days in (1, 7, 30)]
    assert counts[2]["placed"] == 65 and counts[2]["connected"] > 0
    assert cells(page, "placed") == [str(c["placed"]) for c in counts]
    assert cells(page, "promises") == [str(c["promises"]) for c in counts]
    assert cells(page, "already-paid") == [str(c["already_paid"]) for c in counts]
    assert cells(page, "complaints") == [str(c["complaints"]) for c in counts]
    month = counts[2]
    connect = cells(page, "connect")[2]
    assert connect == f"{pct(month['connected'], 65)} {month['connected']} / 65 calls placed"
    assert cells(page, "live")[2].startswith(pct(month["live"], 65))
    assert cells(page, "right-party")[2].startswith(pct(month["right_party"], 65))
    promise = cells(page, "promise-rate")[2]
    assert promise == (
        f"{pct(month['promises'], month['right_party'])} {month['promises']} / "
        f"{month['right_party']} right-party contacts"
    )
    assert "counts calls, not people" in page


def test_the_average_talk_time_is_talk_over_answered_calls(staff_client, make_task):
    sync.sync_task(make_task(calls=20, minutes_ago=600))
    answered = CallRecord.objects.filter(answer_time__isnull=False)
    seconds = round(sum(c.duration or 0 for c in CallRecord.objects.all()) / answered.count())

    page = staff_client.get(OVERVIEW).content.decode()

    assert cells(page, "talk")[2] == f"{seconds // 60}:{seconds % 60:02d}"


def test_today_7_and_30_days_are_counted_by_the_companys_calendar(
    staff_client, make_task, settings
):
    settings.TIME_ZONE = "Asia/Colombo"
    task = make_task(calls=40)
    sync.sync_task(task)
    zone = ZoneInfo("Asia/Colombo")
    midnight = datetime.combine(company_today(), time.min, tzinfo=zone)
    ids = list(task.calls.order_by("call_id").values_list("pk", flat=True))
    # 10 calls in the first minute of today, 10 three days ago, 10 ten days ago, 10 40 days ago.
    for i, days_ago in enumerate([0, 3, 10, 40]):
        CallRecord.objects.filter(pk__in=ids[i * 10 : (i + 1) * 10]).update(
            start_time=midnight - timedelta(days=days_ago) + timedelta(minutes=1)
        )
    summaries.refresh_task_summary(task)

    page = staff_client.get(OVERVIEW).content.decode()

    assert cells(page, "placed") == ["10", "20", "30"]
    assert "Asia/Colombo" in page


def test_calls_with_unclassified_codes_stay_in_every_denominator_and_are_pointed_out(
    staff_client, make_task
):
    task = make_task(calls=40, minutes_ago=600)
    sync.sync_task(task)
    task.refresh_from_db()
    top = max(task.code_counts, key=task.code_counts.get)
    Conclusion.objects.filter(code=top).update(classified=False)
    n = task.code_counts[top]

    page = staff_client.get(OVERVIEW).content.decode()

    month = expected(30)
    assert month["unclassified"] == n and month["placed"] == 40
    assert cells(page, "unclassified")[2] == str(n)
    assert cells(page, "connect")[2].endswith(f"{month['connected']} / 40 calls placed")
    assert f"{n} call{'s' if n > 1 else ''} in the last 30 days" in page
    assert "nobody has classified" in page
    assert f'href="{reverse("calls:conclusions")}"' in page


def test_a_code_no_conclusion_knows_counts_as_unclassified(staff_client, make_task):
    task = make_task(calls=30, minutes_ago=600)
    sync.sync_task(task)
    task.refresh_from_db()
    code = min(task.code_counts)
    Conclusion.objects.filter(code=code).delete()

    page = staff_client.get(OVERVIEW).content.decode()

    assert cells(page, "unclassified")[2] == str(task.code_counts[code])
    assert cells(page, "placed")[2] == "30"


def test_calls_in_progress_are_placed_and_shown_apart(staff_client, make_task):
    sync.sync_task(make_task(calls=20, minutes_ago=3, pace=20))  # the last calls still ring
    in_progress = CallRecord.objects.filter(code="").count()
    assert in_progress > 0

    page = staff_client.get(OVERVIEW).content.decode()

    assert cells(page, "in-progress")[2] == str(in_progress)
    assert cells(page, "placed")[2] == str(CallRecord.objects.count())


def test_calls_that_ended_without_a_code_are_finished_and_unclassified(staff_client, make_task):
    task = make_task(calls=20, minutes_ago=3, pace=20)  # the last calls still ring
    sync.sync_task(task)
    ended = CallRecord.objects.exclude(code="").order_by("call_id")[:3]
    CallRecord.objects.filter(pk__in=[c.pk for c in ended]).update(code="")
    summaries.refresh_task_summary(task)
    month = expected(30)

    page = staff_client.get(OVERVIEW).content.decode()

    assert 0 < month["in_progress"] == task.calls_total - task.calls_final
    assert cells(page, "in-progress")[2] == str(month["in_progress"])
    assert cells(page, "placed")[2] == str(task.calls_total)
    assert cells(page, "unclassified")[2] == str(month["unclassified"]) == "3"


def test_the_chart_has_a_bar_per_day_with_counts_in_its_tooltips(staff_client, make_task):
    task = make_task(calls=12)
    sync.sync_task(task)
    today = company_today()
    first_minute = datetime.combine(today, time(0, 1), tzinfo=ZoneInfo(settings.TIME_ZONE))
    task.calls.update(start_time=first_minute)
    summaries.refresh_task_summary(task)

    page = staff_client.get(OVERVIEW).content.decode()

    assert page.count('<g class="day">') == 30
    assert f"{today:%a %d %b}: 12 calls placed" in page
    assert 'style="' not in page  # colours come from classes: the coming CSP forbids inline styles


def test_the_overview_reads_summaries_never_the_calls_table(staff_client, make_task):
    sync.sync_task(make_task(calls=12))

    with CaptureQueriesContext(connection) as queries:
        staff_client.get(OVERVIEW)
        staff_client.get(NUMBERS)
        staff_client.get(HEALTH)

    assert not [q["sql"] for q in queries.captured_queries if "calls_callrecord" in q["sql"]]


# --- live refresh ---------------------------------------------------------------------------


def test_the_page_marks_what_refreshes_itself(staff_client):
    page = staff_client.get(OVERVIEW).content.decode()

    assert 'id="sync-health"' in page and f'data-refresh-url="{HEALTH}"' in page
    assert 'data-refresh-url="/?fragment=numbers"' in page and 'id="overview-numbers"' in page
    assert "<script>" not in page  # the refresh lives in static/js/bludash.js


def test_the_numbers_fragment_is_the_numbers_alone_and_never_cached(staff_client, make_task):
    sync.sync_task(make_task(calls=12))

    response = staff_client.get(NUMBERS)

    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page and "<nav" not in page
    assert cells(page, "placed")[2] == "12"
    assert "no-store" in response["Cache-Control"]


def test_the_sync_health_fragment_shows_a_failing_tasks_error(staff_client, make_task):
    task = make_task(calls=3)
    fail_on_a_wrong_key(task)

    response = staff_client.get(HEALTH)

    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page
    assert "sign error" in page and task.blu_task_id in page
    assert "none of its 1 polled task syncs" in page
    assert WRONG_KEY not in page
    assert "no-store" in response["Cache-Control"]


def test_a_healthy_strip_says_when_the_last_sync_succeeded(staff_client, make_task):
    sync.sync_task(make_task(calls=3))
    Task.objects.update(last_success_at=timezone.now() - timedelta(minutes=7))

    page = staff_client.get(HEALTH).content.decode()

    assert "7 min ago" in page and 'class="health healthy"' in page
