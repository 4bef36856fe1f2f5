"""The promises counted by window-end day and outcome, which the overview's kept rates sum: after
every way a promise is made, moved, settled or removed, the stored counts equal a count of the
promises, and the rates read from them equal the rates counted from the promises at any hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from calls.dashboard import kept_rate
from calls.models import Conclusion, Promise, PromiseOutcomeDay
from calls.promises import outcome_days
from tests.promises.test_promises import utc

JAN_2 = ["2024-01-02 17:00:00", "2024-01-02 18:00:00"]
JAN_3 = ["2024-01-03 22:00:00", "2024-01-03 23:30:00"]


def agrees() -> bool:
    return outcome_days.stored() == outcome_days.counted()


def outcomes() -> dict[str, int]:
    return dict(Promise.objects.order_by("call__call_id").values_list("call__call_id", "outcome"))


def test_the_counts_equal_a_recount_after_every_path(call, pay, settings):
    settings.BLUDASH_PROMISE_AMOUNT_KEY = "dueAmount"
    call("c1", slot=JAN_2)  # made
    call("c2", borrower="U2", slot=JAN_2)
    call("c3", borrower="U3", slot=JAN_3, dueAmount="1000")
    assert agrees() and PromiseOutcomeDay.objects.count() == 2

    call("c1", slot=JAN_3)  # moved to another day by a correction
    assert agrees()
    call("c4", at="2024-01-02 10:00:00", slot=JAN_3)  # supersedes c1
    call("c5", borrower="U2", code="AP", at="2024-01-02 12:00:00")  # c2 claimed paid by a call
    assert outcomes() == {
        "c1": "superseded",
        "c2": "claimed_paid",
        "c3": "open",
        "c4": "open",
    }
    assert agrees()

    pay("U3,400,2024-01-03 22:10:00,,R1")  # partly kept by a repayment
    pay("U1,100,2024-01-03 22:20:00,,R2")  # c4 kept
    assert agrees()
    pay("U3,600,2024-01-03 22:30:00,,R3")  # c3 kept
    assert (outcomes()["c3"], outcomes()["c4"]) == ("kept", "kept")
    assert agrees()

    call("c4", code="NOST", at="2024-01-02 10:00:00", slot=None)  # removed: R2 keeps c1
    call("c3", borrower="U9", slot=JAN_3)  # moved to another borrower: no repayment, open
    assert outcomes() == {"c1": "kept", "c2": "claimed_paid", "c3": "open"}
    assert agrees()


def test_a_rebuild_after_a_reclassified_code_keeps_them_and_mends_a_drift(call):
    call("c1", code="MaybeFriday", slot=JAN_2)
    call("c2", borrower="U2", slot=JAN_3)
    Conclusion.objects.filter(code="MaybeFriday").update(promise_to_pay=True)
    call_command("blu", "promises", "rebuild")
    assert Promise.objects.count() == 2 and agrees()

    Conclusion.objects.filter(code="MaybeFriday").update(promise_to_pay=False)
    PromiseOutcomeDay.objects.update(promises=7)  # as if the counts had drifted
    call_command("blu", "promises", "rebuild")
    assert Promise.objects.count() == 1 and agrees()
    assert sum(outcome_days.stored().values()) == 1


@pytest.mark.parametrize("zone", ["UTC", "America/Bogota"])
def test_the_rates_read_from_the_counts_equal_those_counted_at_every_hour(
    call, pay, settings, zone
):
    """A promise's window passing changes no stored row: the rates cut by the time when read,
    so a window ending an hour ago is judged (broken when unpaid) the hour after. The company's
    days are not the account's (Colombo)."""
    settings.TIME_ZONE = zone
    settings.BLUDASH_PROMISE_GRACE_HOURS = 5
    call("c1", slot=JAN_2)
    call("c2", borrower="U2", slot=JAN_3)
    call("c3", borrower="U3", at="2024-01-02 20:00:00", slot=None)
    call("c4", borrower="U3", at="2024-01-03 09:00:00", slot=None)
    pay("U1,100,2024-01-02 17:30:00,,R1")
    first, last = utc("2024-01-02 00:00:00").date(), utc("2024-01-12 00:00:00").date()
    spans = [(day, day) for day in (first + timedelta(days=n) for n in range(10))]
    spans += [(first, last), (first + timedelta(days=1), last)]

    now = datetime(2024, 1, 2, tzinfo=UTC)
    judged = set()
    while now < datetime(2024, 1, 8, tzinfo=UTC):
        read = kept_rate.for_spans(spans, now)
        counted = [kept_rate.counted_for_days(a, b, now) for a, b in spans]
        assert read == counted, now
        judged.add(read[-2].fraction)
        now += timedelta(hours=1)
    # Not judged, kept (c1), a broken one too (c2), then c4 broken (c3 superseded by it).
    assert {"0 / 0", "1 / 1", "1 / 2", "1 / 3"} <= judged
    assert read[-2].fraction == "1 / 3"


def test_the_nightly_check_reports_a_drift_and_fixes_it(call):
    from calls.ingest import verify

    call("c1", slot=JAN_2)
    assert verify.verify_figures().accounts_drifted == 0
    PromiseOutcomeDay.objects.update(promises=3)

    check = verify.verify_figures()
    assert check.accounts_drifted == 1
    assert "open: 3 kept by the writes, the promises say 1" in " ".join(check.drift)
    assert verify.verify_figures(fix=True).accounts_drifted == 1
    assert verify.verify_figures().accounts_drifted == 0 and agrees()
