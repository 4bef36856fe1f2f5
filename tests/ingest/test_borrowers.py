"""Who each call was to: a borrower per account and key, found by every write path (a sync's page,
a callback, a re-read) and by the backfill, and kept current from the calls."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from calls.ingest import borrower_backfill, borrowers, callbacks, page_writer, reread, sync
from calls.limits import breaches
from calls.models import Borrower, CallRecord, validate_borrower_keys
from tests.helpers import BLU_EXAMPLE, add_account, callback_body, make_call


def _record(task, call_id: str, ext_vars: dict | str, **fields) -> dict:
    text = ext_vars if isinstance(ext_vars, str) else json.dumps(ext_vars)
    return {**BLU_EXAMPLE, "taskId": task.blu_task_id, "callId": call_id, "extVars": text, **fields}


def _received(task, *records: dict) -> None:
    for record in records:
        callbacks.receive(task.account, callback_body(record))


def test_a_borrowers_calls_in_two_tasks_are_one_borrower(make_task):
    first, second = make_task("5001", calls=0), make_task("5002", calls=0)
    _received(first, _record(first, "a1", {"uniqueId": "U42", "orderId": 7}))
    _received(
        second,
        _record(second, "b1", {"uniqueId": "U42", "orderId": 8}, startTime="2024-01-03 09:00:00"),
    )

    borrower = Borrower.objects.get()
    assert (borrower.key, borrower.key_source) == ("U42", "uniqueId")
    assert sorted(borrower.calls.values_list("call_id", flat=True)) == ["a1", "b1"]
    # The newest call's orderId and name, the first and last call.
    assert borrower.order_id == "8" and borrower.name == "Anoji Mohoo"
    assert borrower.first_call_at < borrower.last_call_at


def test_blus_user_id_names_the_borrower_when_extvars_has_no_key(make_task):
    task = make_task("5001", calls=0)
    _received(task, _record(task, "a1", "{}"), _record(task, "a2", "not json at all"))

    borrower = Borrower.objects.get()
    assert (borrower.key, borrower.key_source) == ("userId:1208048", "userId")
    assert borrower.calls.count() == 2


def test_the_phone_is_never_a_key(make_task):
    task = make_task("5001", calls=0)
    _received(task, _record(task, "a1", {}, userId=""))
    _received(task, _record(task, "a2", {}, userId="", name="Someone else"))

    assert not Borrower.objects.exists()
    assert CallRecord.objects.filter(borrower__isnull=True).count() == 2


def test_an_account_may_name_its_own_keys_tried_in_order(make_task, settings):
    settings.BLUDASH_BORROWER_KEYS = ["uniqueId"]
    task = make_task("5001", calls=0)
    account = task.account
    account.borrower_keys = "customerNo, uniqueId"
    account.save()
    _received(
        task,
        _record(task, "a1", {"customerNo": "C9", "uniqueId": "U1"}),
        _record(task, "a2", {"uniqueId": "U1"}),
    )

    assert sorted(Borrower.objects.values_list("key", "key_source")) == [
        ("C9", "customerNo"),
        ("U1", "uniqueId"),
    ]


def test_the_setting_names_the_keys_of_accounts_with_none_of_their_own(make_task, settings):
    settings.BLUDASH_BORROWER_KEYS = ["customerNo"]
    task = make_task("5001", calls=0)
    _received(task, _record(task, "a1", {"customerNo": 31, "uniqueId": "U1"}))

    assert Borrower.objects.get().key == "31"


@pytest.mark.parametrize(
    "value", ["uniqueId, customer no", "unique'Id", "a,a", ",".join(f"k{n}" for n in range(9))]
)
def test_an_account_refuses_key_lists_that_are_not_extvars_key_names(value):
    with pytest.raises(ValidationError):
        validate_borrower_keys(value)


def test_one_key_on_two_accounts_is_two_borrowers(make_task):
    task = make_task("5001", calls=0)
    other = add_account("other", app_id="2")
    other_task = other.tasks.create(blu_task_id="9")
    _received(task, _record(task, "a1", {"uniqueId": "U42"}))
    callbacks.receive(other, callback_body(_record(other_task, "a1", {"uniqueId": "U42"})))

    assert Borrower.objects.filter(key="U42").count() == 2


def test_a_sync_links_every_call_it_stores(make_task):
    task = make_task(calls=20)
    sync.sync_task(task)

    calls = CallRecord.objects.filter(task=task)
    assert calls.count() == 20
    linked = calls.filter(borrower__isnull=False)
    # The sandbox's extVars are sometimes not JSON: those calls fall back to userId.
    assert linked.count() == 20
    assert set(Borrower.objects.values_list("key_source", flat=True)) <= {"uniqueId", "userId"}


def test_a_sandbox_borrower_called_in_two_tasks_is_one_borrower_with_both_tasks_calls(make_task):
    first = make_task("5001", calls=40, borrowers=10)
    second = make_task("5002", calls=40, minutes_ago=60, borrowers=10)
    sync.sync_task(first)
    sync.sync_task(second)

    keyed = Borrower.objects.filter(key_source="uniqueId")
    assert 0 < keyed.count() <= 10
    busiest = max(keyed, key=lambda b: b.calls.count())
    assert set(busiest.calls.values_list("task_id", flat=True)) == {first.pk, second.pk}


def test_a_replayed_callback_changes_no_borrower(make_task):
    task = make_task("5001", calls=0)
    record = _record(task, "a1", {"uniqueId": "U42"})
    _received(task, record)
    before = list(Borrower.objects.values())
    _received(task, record)

    assert list(Borrower.objects.values()) == before


def test_a_corrected_record_moves_the_call_to_its_borrower_and_recounts_both(make_task):
    task = make_task("5001", calls=0)
    _received(task, _record(task, "a1", {"uniqueId": "U1"}, code="", endTime=""))
    _received(task, _record(task, "a1", {"uniqueId": "U2"}))

    old, new = Borrower.objects.get(key="U1"), Borrower.objects.get(key="U2")
    assert CallRecord.objects.get(call_id="a1").borrower == new
    assert old.last_call_at is None and old.calls_7d == 0
    assert new.last_call_at is not None


def test_calls_in_seven_days_count_only_the_last_seven_days(bare_task):
    now = timezone.now()
    for n, days in enumerate([0, 3, 6.9, 8, 20]):
        make_call(bare_task, f"c{n}", now - timedelta(days=days), ext_vars={"uniqueId": "U1"})
    borrower_backfill.backfill(bare_task.account)

    borrower = Borrower.objects.get()
    assert borrower.calls_7d == 3
    # The count drops when the oldest of the three leaves the window.
    assert abs(borrower.calls_7d_until - (now + timedelta(days=0.1))) < timedelta(minutes=1)


def test_the_refresh_recounts_borrowers_whose_oldest_counted_call_left_the_window(bare_task):
    now = timezone.now()
    make_call(bare_task, "c1", now - timedelta(days=6), ext_vars={"uniqueId": "U1"})
    make_call(bare_task, "c2", now - timedelta(days=1), ext_vars={"uniqueId": "U1"})
    make_call(bare_task, "c3", now - timedelta(days=1), ext_vars={"uniqueId": "U2"})
    borrower_backfill.backfill(bare_task.account)

    later = now + timedelta(days=2)
    assert borrowers.refresh_expired(now=later) == 1
    assert Borrower.objects.get(key="U1").calls_7d == 1
    assert Borrower.objects.get(key="U2").calls_7d == 1


def test_the_backfill_links_stored_calls_in_batches_and_a_second_run_changes_nothing(bare_task):
    now = timezone.now()
    for n in range(7):
        make_call(bare_task, f"c{n}", now - timedelta(hours=n), ext_vars={"uniqueId": f"U{n % 3}"})
    make_call(bare_task, "nobody", now, ext_vars={})

    result = borrower_backfill.backfill(bare_task.account, batch_size=2)
    assert result.read == 8
    assert Borrower.objects.count() == 3
    assert CallRecord.objects.filter(borrower__isnull=True).count() == 1
    before = list(Borrower.objects.order_by("pk").values())

    again = borrower_backfill.backfill(bare_task.account, batch_size=2)
    assert again.read == 1  # only the call that names nobody is looked at again
    assert list(Borrower.objects.order_by("pk").values()) == before


def test_a_relink_after_the_keys_changed_moves_calls_to_the_new_keys(bare_task):
    make_call(bare_task, "c1", ext_vars={"uniqueId": "U1", "customerNo": "C1"})
    borrower_backfill.backfill(bare_task.account)
    account = bare_task.account
    account.borrower_keys = "customerNo"
    account.save()

    borrower_backfill.backfill(account, relink=True)

    assert CallRecord.objects.get().borrower.key == "C1"
    assert Borrower.objects.get(key="U1").last_call_at is None


def test_a_reread_links_calls_to_the_borrower_their_raw_record_names(make_task):
    task = make_task("5001", calls=0)
    _received(task, _record(task, "a1", {"uniqueId": "U1"}))
    CallRecord.objects.update(borrower=None)

    reread.request_reread(task.account)
    # The raw record is read again: a new reading in another zone moves the start.
    task.account.time_zone = "UTC"
    task.account.save()
    reread.run_reread(task.account)

    call = CallRecord.objects.get()
    assert call.borrower is not None and call.borrower.key == "U1"
    assert call.borrower.last_call_at == call.start_time


def test_the_backfill_command_links_every_accounts_calls_and_says_so(bare_task):
    from io import StringIO

    from django.core.management import call_command

    make_call(bare_task, "c1", ext_vars={"uniqueId": "U1"})
    make_call(bare_task, "c2", ext_vars={"uniqueId": "U1"})
    out = StringIO()
    call_command("blu", "borrowers", "backfill", stdout=out)

    assert "collections: read 2 calls; 2 linked to 1 borrowers" in out.getvalue()
    call_command("blu", "borrowers", "refresh", stdout=out)
    assert "Recounted 0 borrowers." in out.getvalue()


def test_every_database_recounts_borrowers_every_few_minutes(db):
    from django_celery_beat.models import PeriodicTask

    job = PeriodicTask.objects.get(task="calls.tasks.refresh_borrower_counts")
    assert job.enabled and job.interval.every <= 600


def test_a_sync_under_way_when_an_admin_changes_the_keys_links_by_the_new_keys(make_task):
    task = make_task("5001", calls=5, borrowers=2)
    assert task.account.borrower_key_list() == ["uniqueId"]  # what the sync started with
    changed = type(task.account).objects.get(pk=task.account_id)
    changed.borrower_keys = "orderId"
    changed.save()

    sync.sync_task(task)

    assert set(Borrower.objects.values_list("key_source", flat=True)) == {"orderId"}


@pytest.mark.parametrize("key", ["12\n34", "a\tb", "esc\x1b", "del\x7f"])
def test_a_key_with_a_control_character_names_nobody_and_blus_user_id_names_the_borrower(
    bare_task, key
):
    make_call(bare_task, "c1", ext_vars={"uniqueId": key}, user_id="17")
    borrower_backfill.backfill(bare_task.account)

    assert CallRecord.objects.get().borrower.key == "userId:17"


def test_a_lender_key_that_looks_like_blus_user_id_is_not_blus_upload_row(bare_task):
    make_call(bare_task, "lender", ext_vars={"uniqueId": "userId:17"}, user_id="99")
    make_call(bare_task, "blu", ext_vars={}, user_id="17")
    borrower_backfill.backfill(bare_task.account)

    assert CallRecord.objects.get(call_id="lender").borrower.key == "userId:99"
    assert CallRecord.objects.get(call_id="blu").borrower.key == "userId:17"


def test_a_page_of_known_borrowers_writes_no_borrower_row_again(bare_task):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_call(bare_task, "c1", ext_vars={"uniqueId": "U1"})
    borrower_backfill.backfill(bare_task.account)
    with CaptureQueriesContext(connection) as queries:
        borrowers.link_calls(
            bare_task.account, [{"call_id": "c1", "ext_vars": {"uniqueId": "U1"}, "user_id": ""}]
        )

    assert not [q for q in queries if "key_source" in q["sql"] and "INSERT" in q["sql"]]
    assert not [q for q in queries if q["sql"].startswith("UPDATE") and "key_source" in q["sql"]]


def test_a_call_with_a_start_in_the_future_is_not_a_call_of_the_last_seven_days(bare_task):
    now = timezone.now()
    make_call(bare_task, "c1", now - timedelta(days=1), ext_vars={"uniqueId": "U1"})
    make_call(bare_task, "c2", now + timedelta(days=1), ext_vars={"uniqueId": "U1"})
    borrower_backfill.backfill(bare_task.account)

    assert Borrower.objects.get().calls_7d == 1


def test_a_huge_name_is_kept_cut_short_and_the_call_is_stored(make_task):
    # PostgreSQL's btree refuses an index entry over 2,704 bytes: uncut, the borrower's name
    # failed the whole write (found by tests/system/test_malformed_records.py).
    task = make_task("7001", calls=0)
    record = {**BLU_EXAMPLE, "taskId": task.blu_task_id, "callId": "huge", "name": "😀" * 5000}
    record["extVars"] = json.dumps({"uniqueId": "U-huge"})
    callbacks.receive(task.account, callback_body(record))

    borrower = Borrower.objects.get(key="U-huge")
    assert CallRecord.objects.filter(call_id="huge").exists()
    assert borrower.name == "😀" * 200 and borrower.search_name == "😀" * 200


def test_borrowers_a_page_adds_have_the_figures_a_recount_of_their_calls_gives(bare_task):
    # A page's new borrowers are written with their figures from the page itself (PostgreSQL),
    # not recounted after: those figures must be what a recount would make of the stored calls.
    account = bare_task.account
    now = timezone.now()

    def at(delta: timedelta) -> str:
        return (now + delta).astimezone(account.zone).strftime("%Y-%m-%d %H:%M:%S")

    def call(call_id: str, key: str, ago: timedelta | None, **fields) -> dict:
        ext_vars = fields.pop("ext_vars", {})
        start = "" if ago is None else at(-ago)
        return {
            **_record(bare_task, call_id, {"uniqueId": key, **ext_vars}),
            "startTime": start,
            "answerTime": start,
            "endTime": start,
            **fields,
        }

    day = timedelta(days=1)
    page = [
        call("one", "U1", day, name="Ä" * 300, ext_vars={"orderId": 7}),
        call("old", "U2", 10 * day, code="BUSY", phone="0111"),
        call("mid", "U2", 3 * day, code="PTP", ext_vars={"orderId": "A-1"}),
        call("new", "U2", day / 2, code="VM", name="Newest Name", phone="0222"),
        call("tie-a", "U3", day, name="First"),
        call("tie-b", "U3", day, name="Second"),
        call("unstarted", "U4", None, code=""),
        call("ahead", "U5", -day, name="Clock Ahead"),
        call("nested", "U6", 2 * day, ext_vars={"orderId": {"no": 1}}),
    ]
    page_writer.store_records(bare_task, page)

    shown = [field.attname for field in Borrower._meta.concrete_fields]  # every column
    written = list(Borrower.objects.order_by("key").values(*shown))
    assert [b["key"] for b in written] == ["U1", "U2", "U3", "U4", "U5", "U6"]
    assert written[1]["name"] == "Newest Name" and written[1]["calls_7d"] == 2
    pks = list(Borrower.objects.values_list("pk", flat=True))
    borrowers.recount(pks, now)
    breaches._recount_right_party(pks)

    assert list(Borrower.objects.order_by("key").values(*shown)) == written
