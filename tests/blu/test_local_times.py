"""Blu's local times across a change of the clocks (README, "Times and time zones"): an
ambiguous time is the reading that keeps start <= answer <= end, else the earlier; a time the
clocks skipped is read with the offset before the change and named among the problems."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from calls.blu.records import read_record

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def read(zone, start, answer="", end=""):
    raw = {"callId": "1", "startTime": start, "answerTime": answer, "endTime": end}
    fields = read_record(raw, zone)
    return fields["start_time"], fields["answer_time"], fields["end_time"], fields["problems"]


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "local", "earlier"),
    [
        (LONDON, "2024-10-27 01:30:00", utc(2024, 10, 27, 0, 30)),  # 01:30 BST
        (NEW_YORK, "2024-11-03 01:30:00", utc(2024, 11, 3, 5, 30)),  # 01:30 EDT
    ],
)
def test_an_ambiguous_time_alone_is_read_as_the_earlier(zone, local, earlier):
    start, _, _, problems = read(zone, local)
    assert start == earlier and problems == []


def test_in_london_an_answer_after_the_clocks_went_back_is_read_as_the_later_hour():
    # 01:59:50 BST, then the clocks go back: the call is answered at 01:00:05 GMT.
    start, answer, end, problems = read(
        LONDON, "2024-10-27 01:59:50", "2024-10-27 01:00:05", "2024-10-27 01:00:40"
    )
    assert start == utc(2024, 10, 27, 0, 59, 50)
    assert answer == utc(2024, 10, 27, 1, 0, 5) and end == utc(2024, 10, 27, 1, 0, 40)
    assert start <= answer <= end and problems == []


def test_in_new_york_a_call_inside_the_repeated_hour_keeps_its_order():
    start, answer, end, _ = read(
        NEW_YORK, "2024-11-03 01:50:00", "2024-11-03 01:10:00", "2024-11-03 01:20:00"
    )
    assert start == utc(2024, 11, 3, 5, 50)  # 01:50 EDT
    assert answer == utc(2024, 11, 3, 6, 10) and end == utc(2024, 11, 3, 6, 20)  # EST


def test_times_no_reading_can_order_fall_back_to_the_earlier():
    # 00:50 BST (23:50 UTC the day before) comes before either reading of 01:40.
    start, answer, _, _ = read(LONDON, "2024-10-27 01:40:00", "2024-10-27 00:50:00")
    assert start == utc(2024, 10, 27, 0, 40) and answer == utc(2024, 10, 26, 23, 50)


@pytest.mark.parametrize(
    ("zone", "skipped", "before_offset_hours"),
    [(LONDON, "2024-03-31 01:30:00", 0), (NEW_YORK, "2024-03-10 02:30:00", -5)],
)
def test_a_time_the_clocks_skipped_is_read_with_the_offset_before_and_named(
    zone, skipped, before_offset_hours
):
    start, _, _, problems = read(zone, skipped)
    local = datetime.fromisoformat(skipped)
    assert start == local.replace(tzinfo=UTC) - timedelta(hours=before_offset_hours)
    assert any("does not exist" in problem and zone.key in problem for problem in problems)


def test_an_ordinary_summer_time_is_read_plainly():
    start, _, _, problems = read(LONDON, "2024-06-01 12:00:00")
    assert start == utc(2024, 6, 1, 11) and problems == []


def test_a_skipped_start_takes_the_offset_after_when_only_that_keeps_the_order():
    # 01:30 does not exist in London that day; read with GMT it would start after its end
    # (02:05 BST is 01:05 UTC), so it is read with BST: 00:30 UTC.
    start, _, end, problems = read(LONDON, "2024-03-31 01:30:00", "", "2024-03-31 02:05:00")
    assert start == utc(2024, 3, 31, 0, 30) and end == utc(2024, 3, 31, 1, 5)
    assert any("does not exist" in problem for problem in problems)
