"""Syncing tasks from the Blu sandbox over real HTTP into the database."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection

from calls.blu.client import BluPermanentError, BluTemporaryError
from calls.ingest import lease, page_writer, polling, sync
from calls.models import Borrower, CallRecord, Conclusion, SyncRun, Task
from calls.security.crypto import AppKeyUnreadable
from tests.helpers import APP_KEY, WRONG_KEY, blu_call_ids, start_and_join, stored_call_ids


def test_sync_stores_every_record_exactly_once_across_pages(sandbox, make_task):
    task = make_task(calls=53)  # the sandbox caps pages at 7 records although we ask for 10

    run = sync.sync_task(task)

    assert run.outcome == SyncRun.Outcome.OK
    assert run.created == 53 and run.pages == 8
    assert stored_call_ids(task) == blu_call_ids(sandbox, task)
    assert CallRecord.objects.count() == 53
    task.refresh_from_db()
    assert task.calls_total == 53 and task.last_sync_ok and task.last_success_at
    assert sum(task.code_counts.values()) == task.calls_final == 53


def test_fields_are_typed_and_the_raw_record_is_kept(sandbox, make_task):
    task = make_task(calls=5)
    sync.sync_task(task)
    blu = {str(r["callId"]): r for r in sandbox.records(task.blu_task_id)}
    for call in CallRecord.objects.filter(task=task):
        raw = blu[call.call_id]
        assert call.raw == raw
        assert call.code == raw["code"] and call.phone == raw["phone"]
        assert (
            call.start_time.astimezone(task.account.zone).strftime("%Y-%m-%d %H:%M:%S")
            == raw["startTime"]
        )


def test_a_second_sync_with_nothing_new_writes_no_rows(sandbox, make_task):
    task = make_task(calls=30)
    sync.sync_task(task)
    before = dict(CallRecord.objects.values_list("call_id", "last_changed_at"))

    run = sync.sync_task(task)

    assert (run.created, run.changed, run.unchanged) == (0, 0, 30)
    assert dict(CallRecord.objects.values_list("call_id", "last_changed_at")) == before


def test_calls_in_progress_are_updated_when_they_end(sandbox, make_task):
    task = make_task(
        calls=20, minutes_ago=3, pace=20
    )  # the later calls are still ringing or talking
    sync.sync_task(task)
    unfinished = CallRecord.objects.filter(task=task, end_time__isnull=True).count()
    assert unfinished > 0

    sandbox.advance(3600)
    run = sync.sync_task(task)

    assert run.changed >= unfinished
    assert not CallRecord.objects.filter(task=task, end_time__isnull=True).exists()
    assert stored_call_ids(task) == blu_call_ids(sandbox, task)
    task.refresh_from_db()
    assert task.calls_final == task.calls_total == len(blu_call_ids(sandbox, task))


def test_sync_keeps_records_blu_no_longer_returns(sandbox, make_task):
    task = make_task(calls=12)
    sync.sync_task(task)
    kept = {c.call_id: c.raw for c in CallRecord.objects.filter(task=task)}

    sandbox.advance(timedelta(days=46).total_seconds())  # beyond Blu's 45-day window
    assert sandbox.records(task.blu_task_id) == []
    run = sync.sync_task(task)

    assert run.outcome == SyncRun.Outcome.OK and run.pages == 0
    assert {c.call_id: c.raw for c in CallRecord.objects.filter(task=task)} == kept
    task.refresh_from_db()
    assert task.calls_total == 12


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("http500", {}),
        ("truncated", {}),
        ("busy", {}),
        ("slow", {"seconds": 2.5}),  # beyond the read timeout: a timeout, then a retry
    ],
)
def test_temporary_faults_are_retried_until_every_record_is_stored(
    sandbox, make_task, kind, params
):
    task = make_task(calls=30)
    sandbox.inject(kind, task_id=task.blu_task_id, page_no=3, times=2, **params)

    run = sync.sync_task(task)

    assert run.outcome == SyncRun.Outcome.OK
    assert stored_call_ids(task) == blu_call_ids(sandbox, task)
    assert CallRecord.objects.count() == 30
    page_3 = [e for e in sandbox.request_log if e["body"].get("pageNo") == 3]
    assert (
        len(page_3) >= 2 if kind == "slow" else len(page_3) == 3
    )  # two faulty answers, then one good


def test_the_same_record_on_two_pages_is_stored_once(sandbox, make_task):
    task = make_task(calls=30)
    sandbox.inject("duplicate", task_id=task.blu_task_id, page_no=None, times=None)

    run = sync.sync_task(task)

    assert stored_call_ids(task) == blu_call_ids(sandbox, task)
    assert run.created == 30 and run.unchanged > 0


def test_a_record_without_call_id_is_skipped_counted_and_explained(sandbox, make_task):
    task = make_task(calls=20)
    sandbox.inject("missing_call_id", task_id=task.blu_task_id, page_no=2, times=1)

    run = sync.sync_task(task)

    assert run.outcome == SyncRun.Outcome.OK
    assert run.skipped == 1 and run.skip_reasons == {"callId is missing": 1}
    assert CallRecord.objects.count() == 19


def test_many_bad_values_of_one_kind_make_one_line_on_the_run(make_task):
    task = make_task(calls=0)
    records = [
        {"callId": n, "taskId": task.blu_task_id, "duration": f"soon-{n}"} for n in range(30)
    ]

    result = page_writer.store_records(task, records)

    assert result.created == 30
    assert dict(result.problems) == {"duration is not a whole number": 30}
    # Each call keeps its own bad value, for the person reading it.
    assert CallRecord.objects.get(call_id="7").problems == [
        "duration is not a whole number: 'soon-7'"
    ]


def test_a_failure_mid_sync_keeps_earlier_pages_and_the_next_sync_completes(sandbox, make_task):
    task = make_task(calls=40)
    sandbox.inject(
        "code", task_id=task.blu_task_id, page_no=4, times=None, code=5000, message="internal error"
    )

    with pytest.raises(BluPermanentError):
        sync.sync_task(task)

    run = SyncRun.objects.get(task=task)
    assert run.outcome == SyncRun.Outcome.FAILED
    assert "code 5000: internal error" in run.error
    assert CallRecord.objects.count() == 21  # pages 1 to 3, seven records each
    task.refresh_from_db()
    assert task.last_sync_ok is False and "internal error" in task.last_error

    sandbox.clear_faults()
    sync.sync_task(task)
    assert stored_call_ids(task) == blu_call_ids(sandbox, task)
    assert CallRecord.objects.count() == 40


def test_a_fault_that_outlasts_the_retries_fails_the_run_and_loses_nothing(
    sandbox, make_task, settings
):
    settings.BLUDASH_BLU_RETRIES = 2
    task = make_task(calls=30)
    sync.sync_task(task)
    sandbox.inject("http500", task_id=task.blu_task_id, page_no=2, times=None)

    with pytest.raises(BluTemporaryError):
        sync.sync_task(task)

    assert SyncRun.objects.filter(task=task).first().outcome == SyncRun.Outcome.FAILED
    assert CallRecord.objects.count() == 30


def test_a_wrong_key_gives_a_clear_error_naming_the_account_not_the_key(sandbox, make_task):
    task = make_task(calls=5)
    account = task.account
    account.set_app_key(WRONG_KEY)
    account.save()

    with pytest.raises(BluPermanentError) as caught:
        sync.sync_task(task)

    message = str(caught.value)
    assert "collections" in message and "sign error" in message
    assert WRONG_KEY not in message and APP_KEY not in message
    assert "sign error" in SyncRun.objects.get(task=task).error


def test_a_key_that_cannot_be_decrypted_names_the_account(make_task, settings):
    task = make_task(calls=5)
    settings.BLUDASH_FERNET_KEYS = ["2V8c0Qm0f0nHxYQH7bV7c0Jr6cXn0hY1m9K3bq7Z9jE="]

    with pytest.raises(AppKeyUnreadable, match="'collections'") as caught:
        sync.sync_task(task)

    assert task.account.app_key_encrypted not in str(caught.value)
    assert "cannot be decrypted" in SyncRun.objects.get(task=task).error


def test_unknown_codes_are_learned_unclassified_with_blus_description(make_task):
    Conclusion.objects.all().delete()
    task = make_task(calls=40)
    sync.sync_task(task)

    descriptions = dict(CallRecord.objects.exclude(code="").values_list("code", "desc"))
    assert descriptions
    learned = {c.code: c for c in Conclusion.objects.all()}
    assert set(learned) == set(descriptions)
    for code, desc in descriptions.items():
        assert learned[code].label == desc and not learned[code].classified


def test_old_tasks_stop_being_polled_and_keep_their_records(make_task):
    task = make_task(calls=3)
    sync.sync_task(task)
    Task.objects.filter(pk=task.pk).update(last_call_at=task.last_call_at - timedelta(days=46))

    assert polling.retire_old_tasks() == 1
    assert task.pk not in polling.due_task_ids()
    assert CallRecord.objects.filter(task=task).count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_syncs_of_one_task_do_not_both_run(sandbox, make_task):
    task = make_task(calls=30)
    sandbox.inject("slow", task_id=task.blu_task_id, page_no=1, times=1, seconds=1.0)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def run_sync():
        try:
            start.wait(timeout=10)
            sync.sync_task(Task.objects.get(pk=task.pk))
            outcomes.append("ran")
        except lease.SyncBusy:
            outcomes.append("busy")
        finally:
            connection.close()

    start_and_join(threading.Thread(target=run_sync) for _ in range(2))

    assert sorted(outcomes) == ["busy", "ran"]
    assert SyncRun.objects.filter(task=task).count() == 1
    assert CallRecord.objects.count() == 30


@pytest.mark.django_db(transaction=True)
def test_of_many_workers_claiming_one_task_at_the_same_moment_exactly_one_wins(make_task):
    task = make_task(calls=1)
    for attempt in range(10):
        start = threading.Barrier(4)
        winners: list[str] = []

        def try_claim(owner: str, start=start, winners=winners) -> None:
            try:
                start.wait(timeout=10)
                if lease.claim(task.pk, owner):
                    winners.append(owner)
            finally:
                connection.close()

        start_and_join(
            threading.Thread(target=try_claim, args=(f"w{attempt}-{n}",)) for n in range(4)
        )
        assert len(winners) == 1
        lease.release(task.pk, winners[0])


def test_a_dead_workers_lease_runs_out(make_task, settings):
    task = make_task(calls=3)
    assert lease.claim(task.pk, "dead-worker")
    with pytest.raises(lease.SyncBusy):
        sync.sync_task(task)

    Task.objects.filter(pk=task.pk).update(
        sync_lease_until=task.first_seen_at - timedelta(seconds=1)
    )
    assert sync.sync_task(task).outcome == SyncRun.Outcome.OK


def test_a_sync_whose_lease_another_worker_took_stops_before_its_next_page(make_task, settings):
    # A lease that is always due for renewal: the sync checks it before every page.
    settings.BLUDASH_SYNC_LEASE_SECONDS = 0
    task = make_task(calls=20)  # three pages of at most 7

    def taken_over(run):
        # As if this sync's lease had run out and another worker had claimed the task.
        Task.objects.filter(pk=task.pk).update(sync_owner="another-worker")

    with pytest.raises(lease.LeaseLost):
        sync.sync_task(task, progress=taken_over)

    run = SyncRun.objects.get(task=task)
    assert run.outcome == SyncRun.Outcome.FAILED and "another worker took over" in run.error
    assert run.pages == 1 and CallRecord.objects.filter(task=task).count() == 7
    # The other worker's lease stays its own.
    assert Task.objects.get(pk=task.pk).sync_owner == "another-worker"


def test_a_quiet_task_waits_for_the_quiet_interval_and_a_callback_wakes_it(client, make_task):
    task = make_task(calls=4, minutes_ago=300)
    sync.sync_task(task)
    assert task.pk in polling.due_task_ids()  # the first sync brought records: still active

    sync.sync_task(task)  # nothing new, every call ended hours ago

    assert task.pk not in polling.due_task_ids()
    record = CallRecord.objects.filter(task=task).first().raw
    url = f"/blu/callback/{task.account.callback_token}/"
    body = {"taskId": task.blu_task_id, "records": [{**record, "callId": 99}]}
    assert client.post(url, body, content_type="application/json").status_code == 200
    assert task.pk in polling.due_task_ids()


def test_a_page_fetched_before_a_call_ended_does_not_undo_its_end(make_task, sandbox):
    task = make_task(calls=3, minutes_ago=0, pace=5)
    sandbox.advance(10)  # the first call is ringing or talking
    in_progress = [r for r in sandbox.records(task.blu_task_id) if not r["endTime"]]
    assert in_progress
    sandbox.advance(3600)
    final = {str(r["callId"]): r for r in sandbox.records(task.blu_task_id)}
    page_writer.store_records(task, list(final.values()))  # e.g. the callbacks

    result = page_writer.store_records(task, in_progress)  # the stale page arrives late

    assert (result.changed, result.unchanged) == (0, len(in_progress))
    for call in CallRecord.objects.filter(task=task):
        assert call.raw == final[call.call_id] and call.end_time is not None


def test_a_call_on_two_pages_written_together_keeps_its_end_as_page_by_page(make_task, sandbox):
    # A sync writes the pages that arrived meanwhile in one transaction; a call Blu moved from
    # one page to the next while we paged must still meet its stored end, not be parsed over.
    task = make_task(calls=3, minutes_ago=0, pace=5)
    sandbox.advance(10)
    in_progress = [r for r in sandbox.records(task.blu_task_id) if not r["endTime"]]
    sandbox.advance(3600)
    final = sandbox.records(task.blu_task_id)

    result = page_writer.WriteResult()
    for _pages, written in page_writer.write_pages(task, [final, in_progress]):
        result.add(written)

    assert (result.created, result.unchanged) == (len(final), len(in_progress))
    assert all(call.end_time for call in CallRecord.objects.filter(task=task))


def test_the_read_ahead_yields_every_page_fetched_before_a_failure_then_raises_it():
    def pages():
        yield from ([n] for n in range(1, 10))
        raise ConnectionError("Blu went away after page 9")

    seen = []
    with pytest.raises(ConnectionError, match="after page 9"):
        for group in sync.read_ahead(pages(), most=4):
            assert 1 <= len(group) <= 4
            seen.extend(group)
    assert seen == [[n] for n in range(1, 10)]


def test_a_sync_writing_pages_together_stores_each_record_once_and_counts_it(
    sandbox, make_task, settings
):
    settings.BLUDASH_SYNC_WRITE_PAGES = 4
    task = make_task(calls=53)  # 8 pages of at most 7

    run = sync.sync_task(task)

    assert (run.pages, run.created) == (8, 53)
    assert stored_call_ids(task) == blu_call_ids(sandbox, task)
    task.refresh_from_db()
    blu = sandbox.records(task.blu_task_id)
    assert task.code_counts == dict(Counter(r["code"] for r in blu))
    # Every call found its borrower, and each borrower counts its calls of the last 7 days.
    assert not CallRecord.objects.filter(task=task, borrower__isnull=True).exists()
    assert sum(Borrower.objects.values_list("calls_7d", flat=True)) == 53


def test_a_sync_stores_the_script_and_slots_when_blu_sends_them(make_task):
    task = make_task(calls=20, with_script=True)
    sync.sync_task(task)
    answered = CallRecord.objects.filter(task=task, answer_time__isnull=False)
    assert answered.exists()
    for call in answered:
        assert call.script == call.raw["script"] and call.slots == call.raw["slots"]


def test_a_run_left_running_by_a_dead_worker_is_closed_by_the_next_sync(make_task):
    task = make_task(calls=3)
    SyncRun.objects.create(task=task, trigger="poll")  # its worker was killed mid-sync

    sync.sync_task(task)

    outcomes = list(SyncRun.objects.filter(task=task).values_list("outcome", "error"))
    assert outcomes[0] == (SyncRun.Outcome.OK, "")
    assert outcomes[1] == (SyncRun.Outcome.FAILED, "the worker stopped before this sync finished")


def test_the_poll_queues_a_task_once_until_its_sync_finishes(make_task):
    task = make_task(calls=3)
    assert polling.take_due_tasks() == [task.pk]
    assert polling.take_due_tasks() == []  # queued, not yet synced: not queued again

    sync.sync_task(task)

    assert polling.take_due_tasks() == [task.pk]


def test_the_app_key_never_reaches_the_logs(make_task, sandbox, caplog, settings):
    caplog.set_level(logging.DEBUG)
    settings.BLUDASH_BLU_RETRIES = 2
    task = make_task(calls=9)
    sandbox.inject("http500", task_id=task.blu_task_id, page_no=2, times=None)
    with pytest.raises(BluTemporaryError):
        sync.sync_task(task)
    sandbox.clear_faults()
    account = task.account
    account.set_app_key("a-wrong-key-9d2f")
    account.save()
    with pytest.raises(BluPermanentError):
        sync.sync_task(task)

    assert caplog.records
    assert APP_KEY not in caplog.text and "a-wrong-key-9d2f" not in caplog.text
    assert APP_KEY not in str(list(SyncRun.objects.values()))


def _statistics_refreshed() -> bool:
    """Whether the calls table has planner statistics (PostgreSQL: last ANALYZE; SQLite: stat1)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = %s",
                [CallRecord._meta.db_table],
            )
            return bool(cursor.fetchone()[0])
        cursor.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if cursor.fetchone() is None:
            return False
        cursor.execute(
            "SELECT count(*) FROM sqlite_stat1 WHERE tbl = %s", [CallRecord._meta.db_table]
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_a_large_first_load_refreshes_the_planners_statistics(make_task, settings):
    settings.BLUDASH_ANALYZE_EVERY_ROWS = 20
    assert not _statistics_refreshed()

    sync.sync_task(make_task(calls=30))

    assert _statistics_refreshed()
    if connection.vendor == "postgresql":
        # The borrowers grow with the calls, and each page looks 500 of them up by id.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = %s",
                [Borrower._meta.db_table],
            )
            assert cursor.fetchone()[0]
