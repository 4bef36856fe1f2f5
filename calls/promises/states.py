"""A promise's state when read: what the data settled (kept, partly kept, claimed paid,
superseded) or, for an open promise, what the time makes it. Derived at read rather than
stored by a periodic job, so a state shown is right at the moment the page is read (a job
would leave a promise "due" for up to its interval after its window closed) and nothing needs
to run for a promise to break. Each state is an outcome and a range of window ends, which the
(outcome, window_end) index answers.

- open: its window has not begun;  due: inside its window;
- overdue: the window has ended, the grace period (BLUDASH_PROMISE_GRACE_HOURS) has not;
- broken: window and grace have passed with no repayment.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Case, CharField, F, Q, QuerySet, Value, When
from django.utils import timezone

from calls.models import Promise
from calls.promises.ledger import grace

OPEN = Promise.Outcome.OPEN
STATES = {
    "open": "open",
    "due": "due",
    "overdue": "overdue",
    "broken": "broken",
    "kept": "kept",
    "partly_kept": "partly kept",
    "claimed_paid": "claimed paid",
    "superseded": "superseded",
}


def condition(state: str, now: datetime) -> Q:
    """The promises in `state` at `now`."""
    passed = now - grace()
    return {
        # window_end > now follows from window_start > now; said, it bounds the index range.
        "open": Q(outcome=OPEN, window_start__gt=now, window_end__gt=now),
        "due": Q(outcome=OPEN, window_start__lte=now, window_end__gte=now),
        "overdue": Q(outcome=OPEN, window_end__lt=now, window_end__gte=passed),
        "broken": Q(outcome=OPEN, window_end__lt=passed),
    }.get(state) or Q(outcome=state)


def with_state(promises: QuerySet[Promise], now: datetime | None = None) -> QuerySet[Promise]:
    """The promises with `state` annotated as of `now`."""
    now = now or timezone.now()
    return promises.annotate(
        state=Case(
            *(
                When(condition(name, now), then=Value(name))
                for name in ("open", "due", "overdue", "broken")
            ),
            default=F("outcome"),
            output_field=CharField(),
        )
    )


def state_of(promise: Promise, now: datetime | None = None) -> str:
    """One promise's state in Python, by the same rules."""
    now = now or timezone.now()
    if promise.outcome != OPEN:
        return promise.outcome
    if promise.window_start > now:
        return "open"
    if promise.window_end >= now:
        return "due"
    return "overdue" if promise.window_end >= now - grace() else "broken"
