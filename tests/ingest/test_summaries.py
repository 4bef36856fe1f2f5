"""The summary rows and counts pages read instead of the calls table."""

from __future__ import annotations

import importlib
import itertools
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.apps import apps
from django.db import connection, connections, transaction

from calls.dashboard import kpis, summary_queries
from calls.ingest import summaries, sync, verify
from calls.models import AccountDaySummary, CallRecord, Conclusion, Task, TaskDaySummary
from tests.helpers import a_session_waits_on_a_lock, account_without_blu, wait_for

_ids = itertools.count(1)


@pytest.fixture
def plain_task(db):
    """A task with no Blu behind it, for calls written directly."""
    return Task.objects.create(account=account_without_blu(), blu_task_id="1", name="Plain")


def add_call(
    task: Task,
    start: datetime | None,
    code: str = "PTP",
    talk: int = 30,
    ended: bool | None = None,
) -> CallRecord:
    """A call; it has ended if it has a code, unless `ended` says otherwise."""
    answered = code not in ("", "D00")
    ended = bool(code) if ended is None else ended
    return CallRecord.objects.create(
        account=task.account,
        task=task,
        call_id=str(next(_ids)),
        code=code,
        start_time=start,
        answer_time=start + timedelta(seconds=5) if answered and start else None,
        end_time=start + timedelta(seconds=5 + talk) if ended and start else None,
        duration=talk if answered else 0,
        raw={},
        content_hash="-",
    )


def test_days_are_counted_in_the_company_time_zone(plain_task, settings):
    settings.TIME_ZONE = "Asia/Colombo"  # UTC+5:30
    add_call(plain_task, datetime(2024, 1, 1, 18, 0, tzinfo=UTC))  # 23:30 on the 1st there
    add_call(plain_task, datetime(2024, 1, 1, 18, 45, tzinfo=UTC))  # 00:15 on the 2nd there
    add_call(plain_task, datetime(2024, 1, 1, 23, 50, tzinfo=UTC), code="D00")  # 05:20 there

    summaries.refresh_task_summary(plain_task)

    rows = TaskDaySummary.objects.filter(task=plain_task).order_by("day", "code")
    assert [(r.day, r.code, r.calls) for r in rows] == [
        (date(2024, 1, 1), "PTP", 1),
        (date(2024, 1, 2), "D00", 1),
        (date(2024, 1, 2), "PTP", 1),
    ]
    assert summary_queries.day_code_totals(date(2024, 1, 2), date(2024, 1, 2))


def test_the_task_counts_and_its_day_rows_agree_with_its_calls(make_task):
    task = make_task(calls=30, minutes_ago=4, pace=10)  # the last calls are still in progress
    sync.sync_task(task)
    task.refresh_from_db()
    calls = CallRecord.objects.filter(task=task)

    rows = TaskDaySummary.objects.filter(task=task)
    totals = {t.code: t for t in summary_queries.code_totals(rows)}

    assert sum(t.calls for t in totals.values()) == task.calls_total == calls.count() > 0
    assert totals[""].calls == calls.filter(code="").count() > 0
    assert sum(t.answered for t in totals.values()) == task.calls_answered
    assert sum(t.talk_seconds for t in totals.values()) == sum(c.duration or 0 for c in calls)
    assert task.code_counts == {c: t.calls for c, t in totals.items() if c}
    ended = calls.filter(answer_time__isnull=False, end_time__isnull=False)
    durations = sorted(c.duration for c in ended)  # a call still talking has no talk time yet
    assert task.median_talk_seconds == durations[len(durations) // 2]


def test_a_refresh_replaces_the_rows_of_days_that_no_longer_have_calls(plain_task):
    call = add_call(plain_task, datetime(2024, 5, 1, 10, tzinfo=UTC))
    summaries.refresh_task_summary(plain_task)
    CallRecord.objects.filter(pk=call.pk).update(start_time=datetime(2024, 5, 3, 10, tzinfo=UTC))

    summaries.refresh_task_summary(plain_task)

    assert list(TaskDaySummary.objects.values_list("day", flat=True)) == [date(2024, 5, 3)]


def test_a_rebuild_moves_the_accounts_day_totals_by_what_it_recounted(plain_task):
    other = Task.objects.create(account=plain_task.account, blu_task_id="2")
    moved = add_call(plain_task, datetime(2024, 5, 1, 10, tzinfo=UTC))
    add_call(other, datetime(2024, 5, 1, 11, tzinfo=UTC))
    for task in (plain_task, other):
        summaries.refresh_task_summary(task)

    def account_rows():
        return list(AccountDaySummary.objects.order_by("day").values_list("day", "code", "calls"))

    assert account_rows() == [(date(2024, 5, 1), "PTP", 2)]
    CallRecord.objects.filter(pk=moved.pk).update(start_time=datetime(2024, 5, 3, 10, tzinfo=UTC))

    summaries.refresh_task_summary(plain_task)  # what `blu summaries` does for every task

    assert account_rows() == [
        (date(2024, 5, 1), "PTP", 1),
        (date(2024, 5, 3), "PTP", 1),
    ]
    assert verify.account_drift(plain_task.account) == []


def test_the_day_totals_add_up_every_task_per_day_and_code(plain_task):
    other = Task.objects.create(account=plain_task.account, blu_task_id="2")
    noon = datetime(2024, 5, 1, 12, tzinfo=UTC)
    for task in (plain_task, other):
        add_call(task, noon, talk=40)
        add_call(task, noon + timedelta(days=1), code="D00")
        summaries.refresh_task_summary(task)

    rows = summary_queries.day_code_totals(date(2024, 5, 1), date(2024, 5, 1))

    assert [(day, t.code, t.calls, t.answered, t.talk_seconds) for day, t in rows] == [
        (date(2024, 5, 1), "PTP", 2, 2, 80)
    ]


def test_rates_for_the_tasks_table_follow_the_conclusions_and_skip_empty_tasks(plain_task):
    noon = datetime(2024, 5, 1, 12, tzinfo=UTC)
    for code in ["PTP", "NOST", "NOST", "D00"]:
        add_call(plain_task, noon, code=code)
    summaries.refresh_task_summary(plain_task)
    empty = Task.objects.create(account=plain_task.account, blu_task_id="2")

    tasks = {t.pk: t for t in summary_queries.with_rates(Task.objects.all())}

    task = tasks[plain_task.pk]
    assert task.calls_right_party == 3 and task.promise_ratio == pytest.approx(1 / 3)
    assert task.connect_ratio == pytest.approx(3 / 4)
    assert tasks[empty.pk].connect_ratio is None and tasks[empty.pk].promise_ratio is None


def test_reclassifying_a_code_updates_every_tasks_flag_counts(plain_task):
    add_call(plain_task, datetime(2024, 5, 1, 12, tzinfo=UTC), code="D00")
    summaries.refresh_task_summary(plain_task)
    assert plain_task.calls_connected == 0

    Conclusion.objects.filter(code="D00").update(connected=True)
    changed = summaries.apply_conclusion_flags()

    plain_task.refresh_from_db()
    assert changed == 1 and plain_task.calls_connected == 1


def test_numeric_codes_count_in_the_promise_rate_like_any_other(plain_task):
    # Blu robots may define codes such as "7": a JSON key lookup would read it as an array index.
    Conclusion.objects.create(code="7", label="Seven", **_flags("right_party", "promise_to_pay"))
    Conclusion.objects.create(code="8", label="Eight", **_flags("right_party"))
    noon = datetime(2024, 5, 1, 12, tzinfo=UTC)
    for code in ["7"] * 4 + ["8"] * 3 + ["D00"]:
        add_call(plain_task, noon, code=code)
    summaries.refresh_task_summary(plain_task)

    task = summary_queries.with_rates(Task.objects.all()).get()

    assert (task.calls_right_party, task.calls_promised) == (7, 4)
    assert task.promise_ratio == pytest.approx(4 / 7)


def test_reclassifying_a_code_updates_the_right_party_contacts_too(plain_task):
    add_call(plain_task, datetime(2024, 5, 1, 12, tzinfo=UTC), code="NotOneself")
    summaries.refresh_task_summary(plain_task)
    assert plain_task.calls_right_party == 0

    Conclusion.objects.filter(code="NotOneself").update(right_party=True)
    summaries.apply_conclusion_flags()

    plain_task.refresh_from_db()
    assert plain_task.calls_right_party == 1


def test_the_migration_counts_the_right_party_contacts_of_existing_tasks(plain_task):
    Conclusion.objects.create(code="7", label="Seven", **_flags("right_party"))
    Task.objects.filter(pk=plain_task.pk).update(
        code_counts={"7": 4, "PTP": 3, "D00": 5, "GONE": 1}, calls_right_party=0
    )
    migration = importlib.import_module("calls.migrations.0004_task_calls_right_party")

    migration.count_right_party(apps, None)

    plain_task.refresh_from_db()
    assert plain_task.calls_right_party == 7


def test_a_call_that_ended_without_a_code_is_finished_not_in_progress(plain_task):
    noon = datetime(2024, 5, 1, 12, tzinfo=UTC)
    add_call(plain_task, noon, code="PTP")
    add_call(plain_task, noon, code="", ended=True)
    add_call(plain_task, noon, code="", ended=False)  # still ringing

    summaries.refresh_task_summary(plain_task)

    totals = summary_queries.code_totals(TaskDaySummary.objects.filter(task=plain_task))
    numbers = kpis.kpis(totals, _conclusions())
    assert (plain_task.calls_total, plain_task.calls_final) == (3, 2)
    assert numbers.in_progress == 1 == plain_task.calls_total - plain_task.calls_final
    assert numbers.unclassified == 1 and numbers.placed == 3
    assert plain_task.code_counts == {"PTP": 1, kpis.NO_CODE: 1}
    rows = {row.code: row for row in kpis.breakdown(totals, _conclusions())}
    assert rows[kpis.NO_CODE].label == "Ended without a code"
    assert rows[kpis.NO_CODE].category == "Unclassified"


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_waits_for_the_task_and_counts_what_was_committed_meanwhile():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; SQLite runs one writer at a time anyway")
    task = Task.objects.create(account=account_without_blu(), blu_task_id="1")
    noon = datetime(2024, 5, 1, 12, tzinfo=UTC)
    add_call(task, noon)
    errors: list[BaseException] = []

    def rebuild() -> None:
        try:
            summaries.refresh_task_summary(Task.objects.get(pk=task.pk))
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
        finally:
            connections.close_all()

    # Another writer (a sync finishing, a manager reclassifying) holds the task.
    with transaction.atomic():
        Task.objects.select_for_update().get(pk=task.pk)
        thread = threading.Thread(target=rebuild)
        thread.start()
        waited = wait_for(a_session_waits_on_a_lock, seconds=10, step=0.02)
        add_call(task, noon, code="D00")
    thread.join(timeout=30)

    assert waited and not errors and not thread.is_alive()
    task.refresh_from_db()
    assert task.calls_total == 2 and task.code_counts == {"PTP": 1, "D00": 1}


def _flags(*flags: str) -> dict[str, bool]:
    implied = {"connected", "live_person"} if {"right_party"} & set(flags) else set()
    return dict.fromkeys({*flags, *implied}, True)


def _conclusions() -> dict[str, Conclusion]:
    return Conclusion.by_code()


def test_the_start_of_the_oldest_call_still_in_progress_is_kept_with_the_counts(plain_task):
    noon = datetime(2024, 5, 1, 12, tzinfo=UTC)
    add_call(plain_task, noon - timedelta(days=2), code="PTP")  # ended: not open
    add_call(plain_task, noon - timedelta(days=1), code="", ended=True)  # ended without a code
    oldest_open = add_call(plain_task, noon, code="", ended=False)
    add_call(plain_task, noon + timedelta(days=1, hours=3), code="", ended=False)

    summaries.refresh_task_summary(plain_task)

    stored = Task.objects.get(pk=plain_task.pk)
    assert stored.oldest_open_call_at == oldest_open.start_time == plain_task.oldest_open_call_at
    assert stored.first_call_at == noon - timedelta(days=2)
    assert stored.last_call_at == noon + timedelta(days=1, hours=3)

    CallRecord.objects.filter(task=plain_task, code="").update(code="D00")
    summaries.refresh_task_summary(plain_task)

    assert Task.objects.get(pk=plain_task.pk).oldest_open_call_at is None
