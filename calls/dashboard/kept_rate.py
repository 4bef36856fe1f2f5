"""The promise-kept rate (collections.md): promises whose window ended in a period and were kept
/ promises whose window ended in that period. A superseded promise is in neither (a later one
replaced it before it could be judged); one claimed paid with no repayment is in the
denominator only, as is one partly kept. Each is one call's promise, so the rate counts calls.
Both counts are ranges of the window-end indexes."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from calls.dashboard.kpis import Rate
from calls.models import Promise, Task
from calls.promises import ledger

COUNTS = "kept promises"
OF = "promises whose window ended"


def kept_rate(promises: QuerySet[Promise], since: datetime, until: datetime) -> Rate:
    """Among `promises`, those whose window ended in [since, until)."""
    ended = promises.filter(window_end__gte=since, window_end__lt=until).exclude(
        outcome=Promise.Outcome.SUPERSEDED
    )
    counts = ended.aggregate(
        all=Count("pk"), kept=Count("pk", filter=Q(outcome=Promise.Outcome.KEPT))
    )
    return Rate(counts["kept"], counts["all"], COUNTS, OF)


def for_days(first: date, last: date, now: datetime | None = None) -> Rate:
    """Windows that ended from the start of `first` to the end of `last` (company time zone),
    and whose grace has passed by now: a promise still in its window or grace is not judged yet
    (counted as not kept, it would make the latest days' rate read low, then rise)."""
    now = (now or timezone.now()) - ledger.grace()
    since = timezone.make_aware(datetime.combine(first, time.min))
    until = min(now, timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min)))
    return kept_rate(Promise.objects.all(), since, until)


def for_task(task: Task, now: datetime | None = None) -> Rate:
    """The task's promises whose window and grace have ended by now."""
    now = (now or timezone.now()) - ledger.grace()
    return kept_rate(
        Promise.objects.filter(task=task), datetime.min.replace(tzinfo=now.tzinfo), now
    )
