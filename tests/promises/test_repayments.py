"""Repayments: one import of the lender's feed, checked row by row and stored all or nothing,
never twice; each repayment keeps the borrower's oldest open promise whose window (plus the
grace period) it falls in."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from calls.models import Promise, Repayment
from tests.promises.test_promises import utc

SLOT = ["2024-01-02 17:00:00", "2024-01-02 18:00:00"]


@pytest.fixture(autouse=True)
def _grace(settings):
    settings.BLUDASH_PROMISE_GRACE_HOURS = 2


def outcome(call_id: str = "c1") -> str:
    return Promise.objects.get(call__call_id=call_id).outcome


def test_a_repayment_in_the_window_keeps_the_promise(call, pay):
    call("c1", slot=SLOT)
    result = pay("U1,1500,2024-01-02 17:30:00,,R1")

    assert result.saved and len(result.new) == 1
    promise = Promise.objects.get()
    assert promise.outcome == "kept" and promise.paid_amount == Decimal("1500.00")
    assert Repayment.objects.get().promise == promise


@pytest.mark.parametrize(
    "paid_at, kept",
    [
        ("2024-01-01 12:59:59", False),  # before the call that promised
        ("2024-01-01 13:00:00", True),  # the moment of the call
        ("2024-01-02 20:00:00", True),  # the last second of window + grace
        ("2024-01-02 20:00:01", False),  # one second after
        ("2024-01-02T14:30:00Z", True),  # 20:00 in Colombo, given in UTC
        ("2024-01-02T14:30:01+00:00", False),
    ],
)
def test_repayments_on_the_edges_of_the_window_and_grace(call, pay, paid_at, kept):
    call("c1", slot=SLOT)
    pay(f"U1,100,{paid_at},,")
    assert outcome() == ("kept" if kept else "open")


def test_a_time_without_an_offset_is_the_accounts_local_time(call, pay):
    call("c1", slot=SLOT)
    pay("U1,100,2024-01-02 19:59:00,,")
    assert Repayment.objects.get().paid_at == utc("2024-01-02 19:59:00")


def test_the_oldest_open_promise_is_kept_first(call, pay):
    # c1's window and grace end before c2 is made: c1 is not superseded.
    call("c1", at="2024-01-01 13:00:00", slot=SLOT)
    call("c2", at="2024-01-05 10:00:00", slot=None)
    # Paid within c1's window, imported after c2: it keeps c1, not c2.
    pay("U1,100,2024-01-02 17:10:00,,R1")
    assert (outcome("c1"), outcome("c2")) == ("kept", "open")
    pay("U1,100,2024-01-06 09:00:00,,R2")
    assert outcome("c2") == "kept"
    assert Repayment.objects.get(reference="R2").promise.call.call_id == "c2"


def test_one_repayment_keeps_one_promise(call, pay):
    call("c1", borrower="U1", slot=SLOT)
    call("c2", borrower="U2", slot=SLOT)
    pay("U1,100,2024-01-02 17:10:00,,")
    assert (outcome("c1"), outcome("c2")) == ("kept", "open")


def test_a_repayment_short_of_the_expected_amount_partly_keeps(call, pay, settings):
    settings.BLUDASH_PROMISE_AMOUNT_KEY = "dueAmount"
    call("c1", slot=SLOT, dueAmount="1,000")
    assert Promise.objects.get().expected_amount == Decimal("1000.00")

    pay("U1,400,2024-01-02 17:10:00,,R1")
    assert outcome() == "partly_kept"
    pay("U1,600,2024-01-02 17:20:00,,R2")
    promise = Promise.objects.get()
    assert promise.outcome == "kept" and promise.paid_amount == Decimal("1000.00")


def test_an_already_paid_call_is_a_claim_never_kept_until_a_repayment_comes(call, pay):
    call("c1", slot=SLOT)
    call("c2", code="AP", at="2024-01-02 10:00:00")
    assert outcome() == "claimed_paid"

    pay("U1,100,2024-01-02 17:10:00,,")
    assert outcome() == "kept"


def test_a_repayment_after_the_grace_leaves_a_broken_promise(call, pay):
    call("c1", slot=SLOT)
    pay("U1,100,2024-01-03 09:00:00,,")
    assert outcome() == "open"  # broken when read after the grace: states.py
    assert Repayment.objects.get().promise is None


def test_importing_the_same_file_twice_stores_nothing_twice(call, pay):
    call("c1", slot=SLOT)
    rows = (
        "U1,100,2024-01-02 17:10:00,,R1",
        "U1,50,2024-01-02 17:20:00,,",
        "U1,50,2024-01-02 17:20:00,,",
    )
    first = pay(*rows)
    assert (len(first.new), first.duplicates) == (2, 1)
    again = pay(*rows)
    assert (len(again.new), again.duplicates) == (0, 3)
    assert Repayment.objects.count() == 2


def test_a_bad_row_is_reported_with_its_line_and_nothing_is_stored(call, pay):
    call("c1", slot=SLOT)
    result = pay(
        "U1,100,2024-01-02 17:10:00,,R1",
        "U1,-5,2024-01-02 17:10:00,,R2",
        ",5,yesterday,,R3",
        "U1,1.234,2024-01-02 17:10:00,,R4",
        "U1,10,2099-01-01 00:00:00,,R5",
    )
    assert not result.saved
    assert [(e.line, e.reason) for e in result.errors] == [
        (3, "amount '-5' is not a positive amount"),
        (
            4,
            "borrower is empty; paid_at 'yesterday' is not a date and time like "
            "2024-08-15 17:30:00",
        ),
        (5, "amount '1.234' has more than two decimal places"),
        (6, "paid_at '2099-01-01 00:00:00' is in the future"),
    ]
    assert not Repayment.objects.exists() and outcome() == "open"


def test_a_reference_stored_with_other_values_is_a_bad_row(call, pay):
    call("c1", slot=SLOT)
    pay("U1,100,2024-01-02 17:10:00,,R1")
    result = pay("U1,100,2024-01-02 17:10:00,,R2", "U1,999,2024-01-02 17:10:00,,R1")
    assert [e.line for e in result.errors] == [3]
    assert Repayment.objects.count() == 1


def test_a_file_without_a_required_column_is_refused(account):
    from calls.promises import repayments

    records, errors = repayments.csv_records("borrower,paid_at\nU1,2024-01-01 10:00:00\n")
    assert not records and errors[0].line == 1 and "amount" in errors[0].reason


def test_the_command_imports_a_file_and_reports_bad_rows(call, tmp_path, capsys):
    call("c1", slot=SLOT)
    good = tmp_path / "good.csv"
    good.write_text("borrower,amount,paid_at\nU1,100,2024-01-02 17:10:00\n")
    call_command("blu", "repayments", "import", str(good))
    call_command("blu", "repayments", "import", str(good), "--account", "collections")
    out = capsys.readouterr().out
    assert "1 repayment imported, 0 already stored" in out
    assert "0 repayments imported, 1 already stored" in out

    bad = tmp_path / "bad.csv"
    bad.write_text("borrower,amount,paid_at\nU1,100,2024-01-03 10:00:00\nU1,abc,2024-01-03\n")
    with pytest.raises(CommandError, match="Nothing imported: 1 bad row"):
        call_command("blu", "repayments", "import", str(bad))
    assert "line 3: amount 'abc' is not a number" in capsys.readouterr().err
    assert Repayment.objects.count() == 1 and outcome() == "kept"


def test_a_repayment_before_its_borrowers_calls_keeps_the_promise_when_they_come(call, pay):
    result = pay("U9,100,2024-01-02 17:10:00,,R1")
    assert result.saved and result.new_borrowers == ["U9"]

    call("c1", borrower="U9", slot=SLOT)
    assert outcome() == "kept"
    assert Repayment.objects.get().borrower.calls.count() == 1
