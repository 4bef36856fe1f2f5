"""Each day's calls to review: a few per conclusion code, more of the codes that cost most when
the robot is wrong (promises to pay and complaints), and of a promise code half from promises
shorter than BLUDASH_REVIEW_SHORT_PROMISE_SECONDS (a promise made that fast is the likeliest to
be a misheard one).

Cheap at millions of calls: the day's codes come from its day rows (what the overview reads),
and each call is found by one seek of the (code, start time) index at an instant drawn at
random between the code's first and last call of the day, never by sorting the day's calls at
random. The instants are seeded by the day and the code, so a day's sample is the same however
often it is drawn. Drawing again only
tops up: a code whose sample is short (calls that came in after an earlier draw) gets more, no
call is drawn twice, and nothing drawn is taken away.

Only calls with a recording are drawn, and no code that the conclusions say nobody answered:
there is nothing to listen to.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from calls.models import AccountDaySummary, CallRecord, CallReview, Conclusion, ReviewDraw

# Promise and complaint codes get this many times the sample of the others.
WEIGHTED_TIMES = 2

Reason = CallReview.Reason
# Before Blu existed: no call, and a day whose midnight no zone can be shifted to.
EARLIEST_DAY = date(2000, 1, 1)


class BadDay(ValueError):
    """A day that has not begun in the company's zone, or one before any Blu call, has no calls
    to draw."""


@dataclass(frozen=True)
class Drawn:
    day: date
    added: int
    total: int


def today() -> date:
    return timezone.localdate()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The company day as [start, end) instants."""
    zone = timezone.get_default_timezone()
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start, end


def day_codes(day: date) -> dict[str, int]:
    """The conclusion codes of the day's calls, with how many calls each, from the day rows."""
    rows = (
        AccountDaySummary.objects.filter(day=day, calls__gt=0)
        .exclude(code="")
        .values("code")
        .annotate(calls=Sum("calls"))
    )
    return {row["code"]: row["calls"] for row in rows}


@dataclass(frozen=True)
class Stratum:
    """Calls of one code of one day that are drawn alike, and the share of the code's sample
    they take first."""

    reason: str
    calls: QuerySet
    share: int


def plan(conclusion: Conclusion | None, calls: QuerySet) -> tuple[int, list[Stratum]]:
    """How many calls the sample of one code takes, and from which strata. A stratum with too
    few calls for its share leaves the rest to the others (see _draw_code)."""
    per = settings.BLUDASH_REVIEW_SAMPLE_PER_CODE
    if conclusion is not None and conclusion.promise_to_pay:
        total = per * WEIGHTED_TIMES
        short = settings.BLUDASH_REVIEW_SHORT_PROMISE_SECONDS
        if short <= 0:
            return total, [Stratum(Reason.PROMISE, calls, total)]
        quick = calls.filter(duration__lt=short)
        slower = calls.filter(Q(duration__gte=short) | Q(duration__isnull=True))
        half = math.ceil(total / 2)
        return total, [
            Stratum(Reason.SHORT_PROMISE, quick, half),
            Stratum(Reason.PROMISE, slower, total - half),
        ]
    if conclusion is not None and conclusion.complaint:
        return per * WEIGHTED_TIMES, [Stratum(Reason.COMPLAINT, calls, per * WEIGHTED_TIMES)]
    return per, [Stratum(Reason.SAMPLE, calls, per)]


def worth_hearing(conclusion: Conclusion | None) -> bool:
    """A code people have classified as never answered has no recording to judge it by."""
    return conclusion is None or not conclusion.classified or conclusion.connected


def pick(calls: QuerySet, count: int, rng: random.Random, taken: set[int]) -> list[int]:
    """Up to `count` calls of `calls` not in `taken`: all of them when there are no more, else
    the first call at or after each of `count` random instants between the first and the last
    call's start (from the first again when none is after it). One index seek each: a call
    after a quiet spell is likelier to be drawn than one in a busy minute, a spread fair
    enough for people to listen to."""
    if count <= 0:
        return []
    free = calls.exclude(pk__in=taken)
    few = list(free.order_by("start_time", "pk").values_list("pk", "start_time")[: count + 1])
    if len(few) <= count:
        return [pk for pk, _ in few]
    first = few[0][1]
    last = free.order_by("-start_time").values_list("start_time", flat=True).first() or first
    span = (last - first).total_seconds()
    found: list[int] = []
    for _ in range(count):
        instant = first + timedelta(seconds=rng.random() * span)
        left = free.exclude(pk__in=found).order_by("start_time", "pk").values_list("pk", flat=True)
        chosen = left.filter(start_time__gte=instant).first() or left.first()
        if chosen is None:  # calls left the day while it was drawn
            break
        found.append(chosen)
    return found


def draw(day: date, *, by=None) -> Drawn:
    """Draw (or top up) the day's sample; idempotent for the same calls. `by` is the person who
    asked, None for the daily job. Raises BadDay for a day that has not begun or is before
    EARLIEST_DAY."""
    if day > today():
        raise BadDay(f"{day:%Y-%m-%d} has not come yet: there are no calls to draw.")
    if day < EARLIEST_DAY:
        raise BadDay(f"{day.isoformat()} is before any call: choose a day since {EARLIEST_DAY}.")
    start, end = day_bounds(day)
    conclusions = Conclusion.by_code()
    codes = sorted(code for code in day_codes(day) if worth_hearing(conclusions.get(code)))
    with transaction.atomic():
        ReviewDraw.objects.get_or_create(day=day, defaults={"drawn_by": by})
        # Two draws of one day (the job and a manager's click) take turns here.
        record = ReviewDraw.objects.select_for_update().get(day=day)
        existing = list(CallReview.objects.filter(day=day).values_list("code", "reason", "call_id"))
        taken = {call_id for _, _, call_id in existing}
        new: list[CallReview] = []
        for code in codes:
            had = [reason for each, reason, _ in existing if each == code]
            recorded = CallRecord.objects.filter(
                code=code, start_time__gte=start, start_time__lt=end
            ).exclude(record_url="")
            seed = f"{day.isoformat()}/{code}"
            for pk, reason in _draw_code(conclusions.get(code), recorded, had, seed, taken):
                new.append(CallReview(day=day, call_id=pk, code=code, reason=reason))
        new_calls = [review.call_id for review in new]
        bots = dict(CallRecord.objects.filter(pk__in=new_calls).values_list("pk", "bot_id"))
        for review in new:
            review.bot_id = bots.get(review.call_id, "")
        CallReview.objects.bulk_create(new, ignore_conflicts=True)
        total = CallReview.objects.filter(day=day).count()
        record.drawn_at = timezone.now()
        if by is not None:
            record.drawn_by = by
        record.calls = total
        record.save(update_fields=["drawn_at", "drawn_by", "calls"])
    return Drawn(day=day, added=total - len(existing), total=total)


def _draw_code(
    conclusion: Conclusion | None,
    calls: QuerySet,
    had: list[str],
    seed: str,
    taken: set[int],
) -> list[tuple[int, str]]:
    """The calls (with why) one code's sample adds to what it `had` (the reasons of the calls
    already in it): each stratum its share first, then any that has calls left fills what
    another could not."""
    total, strata = plan(conclusion, calls)
    in_sample = len(had)
    passes: list[tuple[Stratum, int | None]] = [
        (stratum, stratum.share - had.count(stratum.reason)) for stratum in strata
    ]
    if len(strata) > 1:
        passes += [(stratum, None) for stratum in strata]
    new: list[tuple[int, str]] = []
    for turn, (stratum, share) in enumerate(passes):
        wanted = total - in_sample if share is None else min(share, total - in_sample)
        rng = random.Random(f"{seed}/{stratum.reason}/{turn}")
        for pk in pick(stratum.calls, wanted, rng, taken):
            new.append((pk, stratum.reason))
            taken.add(pk)
            in_sample += 1
    return new
