"""What the contact-limit tests share: calls received by Blu's callback (the write path every
call takes), at a local time on the account's clock, with a code and a borrower."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from calls.ingest import callbacks
from calls.models import BluAccount, ContactLimits
from tests.helpers import BLU_EXAMPLE, callback_body

_FORMAT = "%Y-%m-%d %H:%M:%S"


@pytest.fixture
def task(make_task):
    return make_task("8001", calls=0)


@pytest.fixture
def limits(account):
    """Save the account's limits (the rest stay the defaults)."""

    def save(**fields) -> ContactLimits:
        row, _ = ContactLimits.objects.update_or_create(account=account, defaults=fields)
        return row

    return save


@pytest.fixture
def call(task):
    """Receive a call started at `at`: local text on the account's clock, or an aware time."""

    def receive(call_id: str, at: str | datetime, code: str = "LMS", borrower: str = "U1") -> None:
        account = BluAccount.objects.get(pk=task.account_id)
        if isinstance(at, datetime):
            at = at.astimezone(account.zone).strftime(_FORMAT)
        started = datetime.strptime(at, _FORMAT)
        record = {
            **BLU_EXAMPLE,
            "taskId": task.blu_task_id,
            "callId": call_id,
            "code": code,
            "startTime": at,
            "answerTime": (started + timedelta(seconds=5)).strftime(_FORMAT),
            "endTime": (started + timedelta(seconds=40)).strftime(_FORMAT),
            "extVars": json.dumps({"uniqueId": borrower}),
        }
        callbacks.receive(account, callback_body(record))

    return receive
