"""Every figure current and in agreement: a write (a sync's page, a callback, a re-read)
updates its tasks' totals and day rows in the same transaction, and a recount from the stored
calls always finds the same figures."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils import timezone

from calls.dashboard.views.overview import overview_numbers
from calls.ingest import page_writer, summaries, sync, verify
from calls.models import AccountDaySummary, BluAccount, CallRecord, Conclusion, Task, TaskDaySummary
from tests.helpers import BLU_EXAMPLE

RECORD = {**BLU_EXAMPLE, "recordUrl": ""}


def post(client, account, task_id, *records):
    url = reverse("calls:blu_callback", kwargs={"token": account.callback_token})
    # Each record names the body's task, as Blu's do.
    body = json.dumps({"taskId": task_id, "records": [{**r, "taskId": task_id} for r in records]})
    response = client.post(url, data=body, content_type="application/json")
    assert response.status_code == 200, response.content
    return response


def record(call_id: str, **fields) -> dict:
    return {**RECORD, "callId": call_id, **fields}


def assert_figures_agree_with_the_calls() -> None:
    drift = [line for task in Task.objects.all() for line in verify.task_drift(task)]
    # The overview's day totals per account, too: the sums of its tasks' day rows.
    drift += [line for each in BluAccount.objects.all() for line in verify.account_drift(each)]
    assert drift == []


def test_a_callback_is_counted_at_once_with_no_poll(client, account, make_task, staff_client):
    task = make_task(calls=5)
    sync.sync_task(task)
    assert Task.objects.get(pk=task.pk).calls_total == 5

    post(client, account, task.blu_task_id, record("cb-1", code="PTP"))

    task.refresh_from_db()
    assert task.calls_total == 6 and task.code_counts.get("PTP", 0) >= 1
    assert sum(TaskDaySummary.objects.filter(task=task).values_list("calls", flat=True)) == 6
    page = staff_client.get(reverse("calls:task_detail", args=[task.pk]), {"fragment": "numbers"})
    assert '<dd class="num">6</dd>' in page.content.decode()
    assert_figures_agree_with_the_calls()


def test_the_overview_counts_a_callback_the_moment_it_arrives(client, account, staff_client):
    started = timezone.localtime(timezone.now() - timedelta(minutes=5), account.zone)
    call = {"startTime": started.strftime("%Y-%m-%d %H:%M:%S"), "code": "PTP"}
    post(client, account, "777", record("c1", **call))
    post(client, account, "888", record("c2", **call))
    assert overview_numbers()["month"].kpis.promises == 2

    post(client, account, "888", record("c3", **call))

    assert list(AccountDaySummary.objects.values_list("code", "calls")) == [("PTP", 3)]
    month = overview_numbers()["month"].kpis
    assert (month.placed, month.promises) == (3, 3)
    page = staff_client.get(reverse("calls:overview"), {"fragment": "numbers"}).content.decode()
    assert page.count('data-kpi="promises">3<') >= 1
    assert_figures_agree_with_the_calls()


def test_verify_reports_an_accounts_drifted_day_totals_and_fix_repairs_them(client, account):
    post(client, account, "777", record("c1"), record("c2", code="AP"))
    AccountDaySummary.objects.filter(code="AP").delete()
    AccountDaySummary.objects.filter(code="PTP").update(calls=5)

    check = verify.verify_figures()
    assert (check.tasks_drifted, check.accounts_drifted) == (0, 1)
    assert any("code AP is None" in line for line in check.drift)

    assert verify.verify_figures(fix=True).accounts_drifted == 1
    assert sorted(AccountDaySummary.objects.values_list("code", "calls")) == [("AP", 1), ("PTP", 1)]
    assert verify.verify_figures().accounts_drifted == 0


def test_a_task_no_longer_polled_still_counts_a_late_callback(client, account, make_task):
    task = make_task(calls=3)
    sync.sync_task(task)
    Task.objects.filter(pk=task.pk).update(is_polled=False)

    post(client, account, task.blu_task_id, record("late-1"))

    assert Task.objects.get(pk=task.pk).calls_total == 4
    assert_figures_agree_with_the_calls()


def test_a_call_ending_moves_from_in_progress_to_its_code(client, account):
    post(client, account, "777", record("c1", code="", endTime="", duration=None))
    task = Task.objects.get(blu_task_id="777")
    assert (task.calls_total, task.calls_final) == (1, 0)
    assert task.oldest_open_call_at is not None

    post(client, account, "777", record("c1"))

    task.refresh_from_db()
    assert (task.calls_total, task.calls_final, task.code_counts) == (1, 1, {"PTP": 1})
    assert task.oldest_open_call_at is None and task.calls_promised == 1
    assert list(TaskDaySummary.objects.values_list("code", "calls")) == [("PTP", 1)]
    assert_figures_agree_with_the_calls()


def test_a_record_naming_another_task_stays_where_blu_first_put_it(client, account):
    post(client, account, "111", record("c1"))
    post(client, account, "222", record("c1", code="AP"))

    call = CallRecord.objects.get()
    assert call.task.blu_task_id == "111" and call.code == "AP"
    assert any(problem.startswith("another task") for problem in call.problems)
    first, second = Task.objects.get(blu_task_id="111"), Task.objects.get(blu_task_id="222")
    assert (first.calls_total, second.calls_total) == (1, 0)
    assert first.code_counts == {"AP": 1}
    assert_figures_agree_with_the_calls()


def test_a_thinner_final_record_blanks_nothing_a_complete_one_filled(client, account):
    post(client, account, "777", record("c1"))
    complete = CallRecord.objects.get()

    post(client, account, "777", record("c1", endTime="", duration=None, answerTime=""))

    call = CallRecord.objects.get()
    assert call.end_time == complete.end_time and call.duration == complete.duration == 40
    assert call.answer_time == complete.answer_time
    assert any(problem.startswith("thinner final record") for problem in call.problems)
    assert Task.objects.get().talk_seconds == 40
    assert_figures_agree_with_the_calls()


def test_calls_without_a_start_time_agree_on_every_page(client, account, staff_client):
    post(client, account, "777", record("dated"), record("undated", startTime=""))
    task = Task.objects.get()

    assert task.calls_total == 2
    rows = TaskDaySummary.objects.filter(task=task)
    assert sum(rows.values_list("calls", flat=True)) == 2
    assert rows.get(day__isnull=True).calls == 1
    detail = staff_client.get(reverse("calls:task_detail", args=[task.pk])).content.decode()
    assert "1 call came without a readable start time" in detail
    assert_figures_agree_with_the_calls()


def test_reclassifying_a_code_in_the_admin_updates_every_tasks_rate(client, account, admin_client_):
    post(client, account, "777", record("c1", code="Willing"))
    assert Task.objects.get().calls_promised == 0

    willing = Conclusion.objects.get(code="Willing")
    url = reverse("admin:calls_conclusion_change", args=[willing.pk])
    form = {
        "code": "Willing",
        "label": "Willing",
        "classified": "on",
        "connected": "on",
        "live_person": "on",
        "right_party": "on",
        "promise_to_pay": "on",
    }
    assert admin_client_.post(url, form).status_code == 302

    assert Task.objects.get().calls_promised == 1
    assert_figures_agree_with_the_calls()


def test_a_sync_keeps_figures_by_applying_changes(account, make_task):
    task = make_task(calls=40, minutes_ago=10, pace=30)  # some still in progress
    sync.sync_task(task)
    assert_figures_agree_with_the_calls()
    task.refresh_from_db()
    before = task.calls_final

    # Later the calls end: the second sync changes them, and only the changes are applied.
    sync.sync_task(task)
    assert_figures_agree_with_the_calls()
    assert Task.objects.get(pk=task.pk).calls_final >= before


def test_verify_reports_drift_and_fix_repairs_it(client, account):
    post(client, account, "777", record("c1"), record("c2"))
    task = Task.objects.get()
    Task.objects.filter(pk=task.pk).update(calls_total=99)
    TaskDaySummary.objects.filter(task=task).update(calls=7)

    check = verify.verify_figures()
    assert check.tasks_drifted == 1 and any("calls_total is 99" in line for line in check.drift)
    assert Task.objects.get().calls_total == 99  # reported, not changed

    fixed = verify.verify_figures(fix=True)
    assert fixed.tasks_drifted == 1 and fixed.fixed
    assert Task.objects.get().calls_total == 2
    assert verify.verify_figures().tasks_drifted == 0


def test_the_applied_change_matches_a_recount_for_every_kind_of_write(account, make_task):
    """A small world through the plain functions: new, changed, final, in progress, undated."""
    task = make_task(calls=0)
    pages = [
        [record("a", code="", endTime="", duration=None), record("b")],
        [record("a"), record("c", startTime="")],
        [record("b", code="NotOneself"), record("d", code="", endTime="")],
        [record("d", code="D03", answerTime="", duration=0)],
    ]
    for page in pages:
        parsed, result = page_writer.read_page(page, task.account)
        page_writer.write_records(task, parsed, result)
        assert_figures_agree_with_the_calls()


def test_summaries_call_day_counts_in_the_company_calendar(settings):
    settings.TIME_ZONE = "Asia/Colombo"
    moment = datetime(2024, 5, 1, 20, 0, tzinfo=ZoneInfo("UTC"))  # 01:30 next day in Colombo
    assert summaries.call_day(moment) == date(2024, 5, 2)
    assert summaries.call_day(None) is None
    assert summaries.call_day(moment - timedelta(hours=2)) == date(2024, 5, 1)  # 23:30
