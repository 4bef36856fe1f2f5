"""What the review tests share: calls received by Blu's callback (the real write path, so the
day rows the sample reads are kept) with a code, a time, a talk time and a bot."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from calls.ingest import callbacks
from tests.helpers import BLU_EXAMPLE, callback_body

_FORMAT = "%Y-%m-%d %H:%M:%S"
DAY = date(2024, 1, 1)


@pytest.fixture
def task(make_task):
    return make_task("7001", calls=0)


@pytest.fixture
def call(task):
    """Receive one call by callback: its code, when it was answered (the account's local time),
    how long it talked, its bot, and whether Blu kept a recording."""

    def receive(
        call_id: str,
        code: str = "PTP",
        at: str = "2024-01-01 13:00:00",
        talk: int = 40,
        bot: int | str = 123,
        recorded: bool = True,
    ) -> None:
        answered = datetime.strptime(at, _FORMAT)
        record = {
            **BLU_EXAMPLE,
            "taskId": task.blu_task_id,
            "callId": call_id,
            "code": code,
            "botId": bot,
            "startTime": (answered - timedelta(seconds=10)).strftime(_FORMAT),
            "answerTime": at,
            "endTime": (answered + timedelta(seconds=talk)).strftime(_FORMAT),
            "duration": talk,
            "extVars": json.dumps({"uniqueId": f"U-{call_id}"}),
        }
        if not recorded:
            record["recordUrl"] = ""
        callbacks.receive(task.account, callback_body(record))

    return receive


@pytest.fixture
def calls(call):
    """`count` calls of `code` on 2024-01-01, a minute apart from 09:00 (the account's time)."""

    def receive(code: str, count: int, talk: int = 40, first: int = 0, **fields) -> None:
        for n in range(first, first + count):
            at = datetime(2024, 1, 1, 9, 0) + timedelta(minutes=n)
            call(f"{code}-{n}", code, at.strftime(_FORMAT), talk=talk, **fields)

    return receive


@pytest.fixture
def small_sample(settings):
    settings.BLUDASH_REVIEW_SAMPLE_PER_CODE = 3
    settings.BLUDASH_REVIEW_SHORT_PROMISE_SECONDS = 30


def yesterday_at_noon() -> str:
    """Noon yesterday in the company's zone (UTC in the tests), as the account's local time."""
    from zoneinfo import ZoneInfo

    from tests.helpers import ZONE

    day = timezone.localdate() - timedelta(days=1)
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=timezone.get_default_timezone())
    return noon.astimezone(ZoneInfo(ZONE)).strftime(_FORMAT)
