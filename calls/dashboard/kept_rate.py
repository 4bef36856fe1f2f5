"""The promise-kept rate (collections.md): promises whose window ended in a period and were kept
/ promises whose window ended in that period. A superseded promise is in neither (a later one
replaced it before it could be judged); one claimed paid with no repayment is in the
denominator only, as is one partly kept. Each is one call's promise, so the rate counts calls.

The overview's periods read the promises counted by window-end day and outcome
(PromiseOutcomeDay) for their whole days, and count the promises themselves only for the day the
judged ones stop in (windows ending before now less the grace): a few rows a day, and one day's
promises, instead of the month's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from calls.dashboard.kpis import Rate
from calls.models import Promise, Task
from calls.promises import ledger, outcome_days

COUNTS = "kept promises"
OF = "promises whose window ended"


def kept_rate(promises: QuerySet[Promise], since: datetime, until: datetime) -> Rate:
    """Among `promises`, those whose window ended in [since, until): ranges of the window-end
    indexes."""
    ended = promises.filter(window_end__gte=since, window_end__lt=until).exclude(
        outcome=Promise.Outcome.SUPERSEDED
    )
    counts = ended.aggregate(
        all=Count("pk"), kept=Count("pk", filter=Q(outcome=Promise.Outcome.KEPT))
    )
    return Rate(counts["kept"], counts["all"], COUNTS, OF)


def rate_of(outcomes: Mapping[str, int]) -> Rate:
    """The rate of promises counted by outcome."""
    judged = sum(n for outcome, n in outcomes.items() if outcome != Promise.Outcome.SUPERSEDED)
    return Rate(outcomes.get(Promise.Outcome.KEPT, 0), judged, COUNTS, OF)


def _start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def judged_until(now: datetime | None = None) -> datetime:
    """Windows ending before this are judged: their grace has passed. A promise still in its
    window or grace is not (counted as not kept, it would make the latest days' rate read low,
    then rise)."""
    return (now or timezone.now()) - ledger.grace()


def counted_for_days(first: date, last: date, now: datetime | None = None) -> Rate:
    """for_days counted from the promises themselves: what the counts by day must equal."""
    until = min(judged_until(now), _start(last + timedelta(days=1)))
    return kept_rate(Promise.objects.all(), _start(first), until)


def for_days(first: date, last: date, now: datetime | None = None) -> Rate:
    """Windows that ended from the start of `first` to the end of `last` (company time zone),
    and whose grace has passed by now."""
    return for_spans([(first, last)], now)[0]


def for_spans(spans: Iterable[tuple[date, date]], now: datetime | None = None) -> list[Rate]:
    """for_days of each (first, last) span, from one read of the day counts over them all and,
    when a span holds the day the judged windows stop in, one count of that day's promises."""
    spans = list(spans)
    if not spans:
        return []
    until = judged_until(now)
    cut_day = outcome_days.day_of(until)
    first = min(span[0] for span in spans)
    whole = outcome_days.by_day(first, min(max(span[1] for span in spans), cut_day - timedelta(1)))
    part: Counter[str] = Counter()
    if any(a <= cut_day <= b for a, b in spans):
        part = Counter(
            dict(
                Promise.objects.filter(window_end__gte=_start(cut_day), window_end__lt=until)
                .order_by()
                .values_list("outcome")
                .annotate(n=Count("pk"))
            )
        )
    rates = []
    for a, b in spans:
        outcomes: Counter[str] = Counter()
        for day, counts in whole.items():
            if a <= day <= b:
                outcomes.update(counts)
        if a <= cut_day <= b:
            outcomes.update(part)
        rates.append(rate_of(outcomes))
    return rates


def for_task(task: Task, now: datetime | None = None) -> Rate:
    """The task's promises whose window and grace have ended by now."""
    now = judged_until(now)
    return kept_rate(
        Promise.objects.filter(task=task), datetime.min.replace(tzinfo=now.tzinfo), now
    )
