"""The daily sample of calls to review: a few of every code, more of promises (half of them
short ones) and complaints, only calls there is something to hear of, the same however often
it is drawn, topped up and never doubled."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from calls import tasks
from calls.models import CallReview, ReviewDraw
from calls.review import sample
from calls.seed import REVIEW_TASK_NAME
from tests.review.conftest import DAY, yesterday_at_noon

pytestmark = pytest.mark.usefixtures("small_sample")


def drawn() -> Counter:
    return Counter(CallReview.objects.values_list("code", "reason"))


def test_promises_and_complaints_get_twice_the_sample_and_half_a_promises_are_short(calls):
    calls("PTP", 10, talk=12)  # promised in 12 seconds: the likeliest to be misheard
    calls("PTP", 10, talk=90, first=10)
    calls("CPL", 10)
    calls("NOST", 10)

    result = sample.draw(DAY)

    # 3 a code, twice that of promise and complaint codes; a promise code's half short ones.
    assert drawn() == {
        ("PTP", "short_promise"): 3,
        ("PTP", "promise"): 3,
        ("CPL", "complaint"): 6,
        ("NOST", "sample"): 3,
    }
    assert (result.added, result.total) == (15, 15)
    short = CallReview.objects.filter(reason="short_promise").values_list(
        "call__duration", flat=True
    )
    assert set(short) == {12}


def test_a_short_promise_stratum_too_small_leaves_its_share_to_the_other_promises(calls):
    calls("PTP", 1, talk=5)
    calls("PTP", 12, talk=90, first=1)

    sample.draw(DAY)

    assert drawn() == {("PTP", "short_promise"): 1, ("PTP", "promise"): 5}


def test_a_code_with_fewer_calls_than_its_sample_gives_them_all(calls):
    calls("NOST", 2)

    sample.draw(DAY)

    assert sorted(CallReview.objects.values_list("call__call_id", flat=True)) == [
        "NOST-0",
        "NOST-1",
    ]


def test_only_calls_with_a_recording_and_codes_someone_answered_are_drawn(calls):
    calls("NOST", 5, recorded=False)
    calls("D03", 5)  # classified: the line does not exist, nobody answered
    calls("MadeUpCode", 2)  # learned, unclassified: worth hearing what it is

    sample.draw(DAY)

    assert drawn() == {("MadeUpCode", "sample"): 2}


def test_drawing_twice_adds_nothing_and_draws_the_same_calls_again_from_scratch(calls):
    calls("NOST", 20)
    calls("PTP", 20, talk=10, first=20)
    first = sample.draw(DAY)
    chosen = set(CallReview.objects.values_list("call_id", flat=True))

    again = sample.draw(DAY)

    assert again.added == 0 and again.total == first.total == 9
    assert set(CallReview.objects.values_list("call_id", flat=True)) == chosen
    # Seeded by the day: the same calls, not the first of the day nor a fresh roll.
    CallReview.objects.all().delete()
    ReviewDraw.objects.all().delete()
    sample.draw(DAY)
    assert set(CallReview.objects.values_list("call_id", flat=True)) == chosen
    assert ReviewDraw.objects.get().calls == 9


def test_the_sample_is_spread_over_the_day_not_its_first_calls(calls):
    calls("NOST", 60)

    sample.draw(DAY)

    picked = sorted(
        int(c.split("-")[1]) for c in CallReview.objects.values_list("call__call_id", flat=True)
    )
    assert len(picked) == 3 and picked != [0, 1, 2]


def test_drawing_again_tops_up_a_code_whose_calls_came_after_the_first_draw(calls):
    calls("NOST", 2)
    sample.draw(DAY)
    before = set(CallReview.objects.values_list("call_id", flat=True))

    calls("NOST", 5, first=2)
    again = sample.draw(DAY)

    after = set(CallReview.objects.values_list("call_id", flat=True))
    assert again.added == 1 and len(after) == 3 and before < after


def test_a_reviewed_call_stays_when_the_sample_is_drawn_again(calls, manager):
    calls("NOST", 5)
    sample.draw(DAY)
    CallReview.objects.filter(pk=CallReview.objects.first().pk).update(verdict="right")

    sample.draw(DAY)

    assert CallReview.objects.count() == 3
    assert CallReview.objects.filter(verdict="right").count() == 1


def test_the_bot_of_each_call_is_kept_with_its_review(calls):
    calls("NOST", 1, bot=4711)

    sample.draw(DAY)

    assert CallReview.objects.get().bot_id == "4711"


def test_a_day_that_has_not_come_is_refused_and_nothing_is_drawn(db):
    with pytest.raises(sample.BadDay, match="has not come yet"):
        sample.draw(timezone.localdate() + timedelta(days=1))

    assert not ReviewDraw.objects.exists()


def test_the_daily_job_is_scheduled_and_draws_yesterday(call):
    call("yesterday-1", "NOST", yesterday_at_noon())

    job = PeriodicTask.objects.get(name=REVIEW_TASK_NAME)
    result = tasks.draw_review_sample()

    assert job.task == "calls.tasks.draw_review_sample" and job.crontab is not None
    assert "1 call drawn" in result
    review = CallReview.objects.get()
    assert review.day == timezone.localdate() - timedelta(days=1)
    assert ReviewDraw.objects.get().drawn_by is None


def test_blu_review_draw_draws_the_day_asked_for(calls):
    calls("NOST", 4)
    out = StringIO()

    call_command("blu", "review", "draw", "--day", "2024-01-01", stdout=out)
    call_command("blu", "review", "draw", "--day", "2024-01-01", stdout=out)

    assert "2024-01-01: 3 calls drawn, 3 in the sample." in out.getvalue()
    assert "2024-01-01: 0 calls drawn, 3 in the sample." in out.getvalue()


def test_blu_review_draw_refuses_a_day_it_cannot_read(db):
    with pytest.raises(CommandError, match="is not a day like"):
        call_command("blu", "review", "draw", "--day", "yesterday")
    assert not ReviewDraw.objects.exists()
