"""A task's page: its facts, the outcome breakdown by code, the funnel, sync history, calls."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from calls.ingest import summaries, sync
from calls.models import CallRecord, Conclusion, Task
from tests.helpers import calls_table_ids, html_text, make_call


def url(task: Task) -> str:
    return reverse("calls:task_detail", args=[task.pk])


@pytest.fixture
def synced(make_task):
    """Forty calls here, not conftest.py's thirty: the counts below are out of 40."""
    task = make_task(calls=40)
    sync.sync_task(task)
    task.refresh_from_db()
    return task


@pytest.fixture
def big_task(account) -> Task:
    """A task with 210 calls, one a second, written directly (the sandbox would take longer)."""
    task = Task.objects.create(account=account, blu_task_id="888", name="Big")
    now = timezone.now()
    CallRecord.objects.bulk_create(
        CallRecord(
            account=account,
            task=task,
            call_id=f"c{n:03d}",
            status=2,
            start_time=now - timedelta(seconds=n),
            raw={"callId": f"c{n:03d}"},
            content_hash=f"c{n:03d}",
        )
        for n in range(210)
    )
    return task


def funnel_row(page: str, step: str) -> str:
    row = re.search(rf'<th scope="row">{step}</th>(.*?)</tr>', page, re.S)
    assert row, step
    return html_text(row.group(1))


def test_anonymous_visitors_are_sent_to_sign_in(client, synced):
    response = client.get(url(synced))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_someone_in_no_group_gets_the_polite_no_access_page(client, outsider, synced):
    client.force_login(outsider)

    assert client.get(url(synced)).status_code == 403


def test_a_missing_task_is_404(staff_client):
    assert staff_client.get(reverse("calls:task_detail", args=[999])).status_code == 404


def test_the_breakdown_counts_each_code_with_its_share_and_talk_time(staff_client, synced):
    calls = list(CallRecord.objects.filter(task=synced))
    counts = Counter(c.code for c in calls)
    code = counts.most_common(1)[0][0]
    answered = [c for c in calls if c.code == code and c.answer_time]
    talk = round(sum(c.duration for c in answered) / len(answered)) if answered else None

    page = staff_client.get(url(synced)).content.decode()

    row = re.search(rf"<tr><td><code>{code}</code></td>(.*?)</tr>", page, re.S)
    assert row
    text = html_text(row.group(1))
    label = Conclusion.objects.get(code=code).label
    share = f"{100 * counts[code] / 40:.1f}%"
    expected_talk = f"{talk // 60}:{talk % 60:02d}" if talk is not None else "—"
    assert text.startswith(label)
    assert f"{counts[code]} {share} {counts[code]} / 40 {expected_talk}" in text
    assert f"{code} ({label}" in page  # the bar chart's tooltip


def test_the_funnel_narrows_from_placed_to_promise_as_shares_of_placed(staff_client, synced):
    flags = {c.code: c for c in Conclusion.objects.all()}
    calls = list(CallRecord.objects.filter(task=synced))

    def flagged(flag: str) -> int:
        return sum(1 for c in calls if getattr(flags[c.code], flag))

    page = staff_client.get(url(synced)).content.decode()

    assert funnel_row(page, "Placed").startswith("40 100.0% 40 / 40")
    for step, flag in [
        ("Connected", "connected"),
        ("Live person", "live_person"),
        ("Right party", "right_party"),
        ("Promise to pay", "promise_to_pay"),
    ]:
        n = flagged(flag)
        assert funnel_row(page, step).startswith(f"{n} {100 * n / 40:.1f}% {n} / 40"), step


def test_unclassified_calls_are_placed_but_in_no_later_step(staff_client, synced):
    code = max(synced.code_counts, key=synced.code_counts.get)
    Conclusion.objects.filter(code=code).update(classified=False)
    n = synced.code_counts[code]

    page = staff_client.get(url(synced)).content.decode()

    assert funnel_row(page, "Placed").startswith("40 ")
    verb = "has" if n == 1 else "have"
    assert f"{n} call{'s' if n > 1 else ''} {verb} no code or one nobody has classified" in page
    assert ">unclassified<" in page.lower() or "Unclassified</span>" in page


def test_the_page_shows_its_calls_and_sync_history(staff_client, synced):
    call = synced.calls.exclude(record_url="").first()

    page = staff_client.get(url(synced)).content.decode()

    assert call.call_id in page and call.name in page
    assert "Recent syncs" in page and ">ok" in page
    assert "Times in UTC" in page


def test_a_task_not_synced_yet_says_what_happens_next(staff_client, make_task):
    task = make_task(calls=3)

    page = staff_client.get(url(task)).content.decode()

    assert "No calls stored for this task yet" in page and "blu sync --task" in page
    assert "Not synced yet." in page


def test_the_page_never_counts_the_calls_table(staff_client, synced):
    with CaptureQueriesContext(connection) as queries:
        staff_client.get(url(synced))

    calls_queries = [q["sql"] for q in queries.captured_queries if "calls_callrecord" in q["sql"]]
    assert calls_queries and not [sql for sql in calls_queries if "COUNT(" in sql.upper()]


@pytest.mark.parametrize(
    ("per_page", "rows"),
    [("1000000", 200), ("9" * 25, 200), ("30", 30), ("-1", 50), ("0", 50), ("abc", 50)],
)
def test_the_calls_table_page_size_is_capped_and_a_bad_one_means_the_default(
    staff_client, big_task, per_page, rows
):
    response = staff_client.get(url(big_task), {"per_page": per_page})

    assert response.status_code == 200
    assert len(calls_table_ids(response)) == rows


@pytest.mark.parametrize("page", ["99", "9" * 20, "0", "-1", "x"])
def test_a_calls_page_past_the_end_or_unreadable_shows_the_first(staff_client, big_task, page):
    response = staff_client.get(url(big_task), {"page": page})

    assert response.status_code == 200
    assert calls_table_ids(response) == [f"c{n:03d}" for n in range(50)]


def test_a_code_with_one_call_reads_one_call_in_the_chart(staff_client, bare_task):
    make_call(bare_task, "only", code="AP", end_time=timezone.now(), duration=30)
    summaries.refresh_task_summary(bare_task)

    page = staff_client.get(url(bare_task)).content.decode()

    assert ": 1 call, 100.0% of 1 call with a conclusion code</title>" in page
