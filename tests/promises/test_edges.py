"""Times at the ends of the calendar, in a payment-time slot and in a repayment, and bodies
nested past Python's limit: each a clear answer, never a write that fails and loses calls."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from calls.models import CallRecord, Promise
from tests.helpers import BLU_EXAMPLE, post_callback
from tests.promises.test_api import token  # noqa: F401 (a fixture)


def test_a_slot_in_year_one_or_9999_gets_the_default_window_and_the_call_is_stored(call):
    call("c1", slot=["0001-01-01 00:00:00", "0001-01-01 01:00:00"])
    call("c2", slot=["9999-12-31 20:00:00", "9999-12-31 23:00:00"])

    assert set(CallRecord.objects.values_list("call_id", flat=True)) >= {"c1", "c2"}
    assert not Promise.objects.filter(call__call_id__in=["c1", "c2"], clear_time=True).exists()


def test_one_absurd_slot_in_a_callback_loses_no_record(client, account, task):
    def record(call_id, slot):
        return {
            **BLU_EXAMPLE,
            "taskId": task.blu_task_id,
            "callId": call_id,
            "code": "PTP",
            "startTime": "2024-01-01 12:59:50",
            "answerTime": "2024-01-01 13:00:00",
            "endTime": "2024-01-01 13:00:40",
            "extVars": json.dumps({"uniqueId": call_id}),
            "slots": {"paymentTime": slot},
        }

    body = {
        "taskId": task.blu_task_id,
        "records": [
            record("good", ["2024-01-02 17:00:00", "2024-01-02 18:00:00"]),
            record("bad", ["0001-01-01 00:00:00", "0001-01-01 01:00:00"]),
        ],
    }
    response = post_callback(client, account, body)

    assert response.status_code == 200
    assert set(CallRecord.objects.values_list("call_id", flat=True)) == {"good", "bad"}


def test_a_repayment_in_year_one_is_a_bad_row(call, pay):
    call("c1")
    result = pay("U1,5,0001-01-01 00:00:00,,R1")

    assert not result.saved
    assert "not a plausible payment date" in result.errors[0].reason


def test_a_paid_at_without_a_time_of_day_is_a_bad_row(call, pay):
    call("c1")
    result = pay("U1,100,2024-01-02,,R1")

    assert not result.saved
    assert "has no time of day" in result.errors[0].reason


def test_a_body_nested_past_pythons_limit_is_refused_as_not_json(client, token):  # noqa: F811
    response = client.post(
        reverse("calls:repayment_api"),
        "[" * 200_000,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert response.status_code == 400


def test_one_reference_twice_in_a_file_with_other_values_is_a_bad_row(call, pay):
    call("c1")
    result = pay(
        "U1,100,2024-01-02 10:00:00,,R1",
        "U2,9999,2024-01-02 11:00:00,,R1",
    )

    assert not result.saved
    assert [error.line for error in result.errors] == [3]
    assert "already used in this file" in result.errors[0].reason


def test_the_default_window_counts_days_on_the_accounts_clock_across_a_change(
    account, call, settings
):
    account.time_zone = "Europe/London"
    account.save()
    settings.BLUDASH_PROMISE_DEFAULT_DAYS = 3
    call("c1", at="2024-03-29 13:00:00", slot=None)  # the clocks go forward on 31 March

    promise = Promise.objects.get()
    assert promise.window_end - promise.window_start == timedelta(days=3) - timedelta(hours=1)
    assert promise.window_end.astimezone(ZoneInfo("Europe/London")).hour == 13


def test_an_amount_owed_with_a_decimal_comma_is_unknown_not_a_hundred_times_more(call, settings):
    settings.BLUDASH_PROMISE_AMOUNT_KEY = "dueAmount"
    call("c1", dueAmount="1500,50")
    call("c2", borrower="U2", dueAmount="1,500.50")

    amounts = dict(Promise.objects.values_list("call__call_id", "expected_amount"))
    assert amounts == {"c1": None, "c2": Decimal("1500.50")}


@pytest.mark.parametrize("amount", ["1_000", "\u0661\u0660\u0660", "1e3"])
def test_an_amount_not_written_as_plain_digits_is_a_bad_row(call, pay, amount):
    call("c1")
    result = pay(f"U1,{amount},2024-01-02 10:00:00,,R1")

    assert not result.saved
    assert "not a number like 1500" in result.errors[0].reason


def test_with_no_amount_owed_known_every_instalment_in_the_window_is_paid(call, pay):
    call("c1", slot=["2024-01-02 17:00:00", "2024-01-03 18:00:00"])
    pay("U1,500,2024-01-02 17:10:00,,R1", "U1,500,2024-01-03 10:00:00,,R2")

    promise = Promise.objects.get()
    assert promise.outcome == "kept" and promise.paid_amount == Decimal("1000.00")
