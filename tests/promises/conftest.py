"""What the promise tests share: a call made by Blu's callback with a code, a time and a
payment-time slot, and repayments imported as the lender's file would bring them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from calls.ingest import callbacks
from calls.promises import repayments
from tests.helpers import BLU_EXAMPLE, callback_body

_FORMAT = "%Y-%m-%d %H:%M:%S"


@pytest.fixture
def task(make_task):
    return make_task("7001", calls=0)


@pytest.fixture
def call(task):
    """Receive a call by callback: its code, local answer time, borrower and slot (a pair of
    local times, None for none said, or left out)."""

    def receive(
        call_id: str,
        code: str = "PTP",
        at: str = "2024-01-01 13:00:00",
        borrower: str = "U1",
        slot: list[str] | str | None = "absent",
        on_task=None,
        **ext_vars,
    ) -> None:
        on = on_task or task
        answered = datetime.strptime(at, _FORMAT)
        record = {
            **BLU_EXAMPLE,
            "taskId": on.blu_task_id,
            "callId": call_id,
            "code": code,
            "startTime": (answered - timedelta(seconds=10)).strftime(_FORMAT),
            "answerTime": at,
            "endTime": (answered + timedelta(seconds=40)).strftime(_FORMAT),
            "extVars": json.dumps({"uniqueId": borrower, **ext_vars}),
        }
        if slot != "absent":
            record["slots"] = {"paymentTime": slot}
        callbacks.receive(on.account, callback_body(record))

    return receive


@pytest.fixture
def pay(account):
    """Import a CSV's rows (strings after the header) and return the result."""

    def imported(*rows: str, header: str = "borrower,amount,paid_at,orderId,reference"):
        records, errors = repayments.csv_records("\n".join([header, *rows]) + "\n")
        assert not errors, errors
        return repayments.import_repayments(account, records)

    return imported
