"""Promises to pay: made by every call whose conclusion is flagged a promise, with the window of
its payment-time slot in the account's time zone or the default window, superseded by a later
promise, and in a state that is right whenever it is read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calls.models import Conclusion, Promise
from calls.promises import states

# The sandbox account's zone is Asia/Colombo, UTC+05:30.
COLOMBO = timedelta(hours=5, minutes=30)


def utc(text: str) -> datetime:
    """A Colombo local time as the UTC instant it is."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) - COLOMBO


def test_a_promise_with_a_slot_has_its_window_in_the_accounts_time_zone(call):
    call("c1", slot=["2024-01-01 17:00:00", "2024-01-01 18:00:00"])

    promise = Promise.objects.get()
    assert promise.borrower.key == "U1" and promise.call.call_id == "c1"
    assert promise.window_start == utc("2024-01-01 17:00:00")
    assert promise.window_end == utc("2024-01-01 18:00:00")
    assert promise.clear_time and promise.made_at == utc("2024-01-01 13:00:00")


@pytest.mark.parametrize("slot", [None, "absent", ["tomorrow", "later"], ["2024-01-02 10:00:00"]])
def test_no_clear_time_gets_the_default_window_from_the_call(call, settings, slot):
    settings.BLUDASH_PROMISE_DEFAULT_DAYS = 5
    call("c1", code="HPTP", slot=slot)

    promise = Promise.objects.get()
    assert not promise.clear_time
    assert promise.window_start == utc("2024-01-01 13:00:00")
    assert promise.window_end == utc("2024-01-06 13:00:00")


def test_only_codes_flagged_promise_to_pay_make_promises(call):
    call("c1", code="NOST")
    call("c2", code="Busy", borrower="U2")
    assert not Promise.objects.exists()

    # A manager's own code, flagged a promise, makes one too.
    Conclusion.objects.create(code="WillPayFriday", label="Pays Friday", promise_to_pay=True)
    call("c3", code="WillPayFriday", borrower="U3")
    assert Promise.objects.get().borrower.key == "U3"


def test_a_correction_that_changes_the_code_or_slot_moves_or_removes_the_promise(call):
    call("c1", slot=["2024-01-01 17:00:00", "2024-01-01 18:00:00"])
    call("c1", slot=["2024-01-02 00:00:00", "2024-01-02 23:59:59"])
    promise = Promise.objects.get()
    assert promise.window_end == utc("2024-01-02 23:59:59")

    call("c1", code="NOST", slot=None)
    assert not Promise.objects.exists()


def test_a_correction_naming_another_borrower_moves_the_promise(call):
    call("c1", borrower="U1")
    call("c1", borrower="U2", slot=None)
    assert Promise.objects.get().borrower.key == "U2"


def test_a_later_promise_supersedes_an_open_earlier_one(call):
    call("c1", at="2024-01-01 13:00:00", slot=["2024-01-03 00:00:00", "2024-01-03 23:59:59"])
    call("c2", at="2024-01-02 10:00:00", slot=["2024-01-05 00:00:00", "2024-01-05 23:59:59"])

    first, second = Promise.objects.order_by("made_at")
    assert first.outcome == "superseded" and first.superseded_by == second
    assert second.outcome == "open"


def test_a_promise_made_after_the_earlier_one_broke_leaves_it_broken(call, settings):
    settings.BLUDASH_PROMISE_GRACE_HOURS = 24
    call("c1", at="2024-01-01 13:00:00", slot=["2024-01-01 17:00:00", "2024-01-01 18:00:00"])
    call("c2", at="2024-01-03 10:00:00", slot=None)

    first = Promise.objects.get(call__call_id="c1")
    assert first.outcome == "open"
    assert states.state_of(first, utc("2024-01-03 10:00:00")) == "broken"


def test_promises_arriving_out_of_order_settle_the_same(call):
    call("c2", at="2024-01-02 10:00:00", slot=None)
    call("c1", at="2024-01-01 13:00:00", slot=None)

    assert Promise.objects.get(call__call_id="c1").outcome == "superseded"
    assert Promise.objects.get(call__call_id="c2").outcome == "open"


def test_the_state_follows_the_time_open_due_overdue_broken(call, settings):
    settings.BLUDASH_PROMISE_GRACE_HOURS = 24
    call("c1", slot=["2024-01-02 17:00:00", "2024-01-02 18:00:00"])
    promise = Promise.objects.get()
    expected = [
        ("2024-01-02 16:59:59", "open"),
        ("2024-01-02 17:00:00", "due"),
        ("2024-01-02 18:00:00", "due"),
        ("2024-01-02 18:00:01", "overdue"),
        ("2024-01-03 18:00:00", "overdue"),
        ("2024-01-03 18:00:01", "broken"),
    ]
    for local, state in expected:
        now = utc(local)
        assert states.state_of(promise, now) == state, local
        # The query's reading is the page's, and agrees.
        annotated = states.with_state(Promise.objects.all(), now).get()
        assert annotated.state == state, local
        assert Promise.objects.filter(states.condition(state, now)).count() == 1


def test_a_call_with_no_borrower_makes_no_promise(call, task):
    from calls.ingest import callbacks
    from tests.helpers import BLU_EXAMPLE, callback_body

    record = {**BLU_EXAMPLE, "taskId": task.blu_task_id, "callId": "x", "userId": "", "code": "PTP"}
    callbacks.receive(task.account, callback_body(record))
    assert not Promise.objects.exists()


def test_a_code_flagged_later_makes_its_promises_when_rebuilt(call, capsys):
    from django.core.management import call_command

    call("c1", code="MaybeFriday", slot=None)
    assert not Promise.objects.exists()
    Conclusion.objects.filter(code="MaybeFriday").update(promise_to_pay=True)
    call_command("blu", "promises", "rebuild")
    assert Promise.objects.get().call.call_id == "c1"
    assert "collections: read 1 call; 1 promises" in capsys.readouterr().out

    Conclusion.objects.filter(code="MaybeFriday").update(promise_to_pay=False)
    call_command("blu", "promises", "rebuild")
    assert not Promise.objects.exists()


def test_a_promise_with_no_call_times_stays_dated_from_when_its_call_was_first_seen(task):
    """A record with no start or answer time dates its promise from the call's first arrival; a
    correction stored later does not move it to the correction's arrival."""
    from calls.ingest import callbacks
    from calls.models import CallRecord
    from tests.helpers import BLU_EXAMPLE, callback_body

    record = {
        **BLU_EXAMPLE,
        "taskId": task.blu_task_id,
        "callId": "c1",
        "code": "PTP",
        "startTime": "",
        "answerTime": "",
        "endTime": "",
        "extVars": '{"uniqueId": "U1"}',
    }
    callbacks.receive(task.account, callback_body(record))
    callbacks.receive(task.account, callback_body({**record, "desc": "corrected"}))
    call = CallRecord.objects.get(call_id="c1")
    assert call.desc == "corrected" and call.start_time is None
    assert Promise.objects.get(call=call).made_at == call.first_seen_at
