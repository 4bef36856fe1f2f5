"""Who must not be called next, and why: each reason is a function that finds the borrowers it
holds for, with the moment since when; the stop list is every reason's borrowers together.

A reason takes the borrowers to look at (None: every borrower) and the time now, and returns
{borrower id: since}. With borrowers given (one, for Blu's pre-dial check) each reason is a
query or two down an index that leads with the borrower; with None it is one set-based query
over the flagged calls, promises, repayments or complaints. Adding a reason is adding a Reason
to REASONS (the contact limits plug in here); the pages, the export and the pre-dial check read
REASONS and nothing else.

The rules:
- already paid: a call flagged already_paid, or a repayment, since the borrower's last promise
  (ever, with no promise); since the first of them;
- complaint open: a complaint new or acknowledged; since it was opened;
- promise not due: an open promise whose window has not ended; since the promise;
- not the right person: BLUDASH_STOP_WRONG_PERSON_TIMES calls coded one of
  BLUDASH_STOP_WRONG_PERSON_CODES; since the last of those that made the count;
- dead line: BLUDASH_STOP_DEAD_LINE_TIMES calls coded one of BLUDASH_STOP_DEAD_LINE_CODES
  (D03 number does not exist, D04 out of service); since the one that made the count.
Counts are over every call the borrower has had, across tasks and accounts' rows of the one
borrower: a number that did not exist three times is not expected to come back.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import F, Min, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber

from calls.models import Borrower, CallRecord, Complaint, Conclusion, Promise, Repayment

Found = dict[int, datetime]
Finder = Callable[[Collection[int] | None, datetime], Found]


@dataclass(frozen=True)
class Reason:
    slug: str  # what the page's filter, the export and the pre-dial answer name it by
    label: str
    find: Finder


def _among(found: QuerySet, borrowers: Collection[int] | None, field: str = "borrower_id"):
    if borrowers is None:
        return found.filter(**{f"{field}__isnull": False})
    return found.filter(**{f"{field}__in": list(borrowers)})


def _earliest(rows: Iterable[tuple[int, datetime | None]], into: Found) -> Found:
    for borrower_id, at in rows:
        if at is not None and (borrower_id not in into or at < into[borrower_id]):
            into[borrower_id] = at
    return into


def _last_promise():
    return Subquery(
        Promise.objects.filter(borrower_id=OuterRef("borrower_id"))
        .order_by("-made_at")
        .values("made_at")[:1]
    )


def already_paid(borrowers: Collection[int] | None, now: datetime) -> Found:
    codes = list(Conclusion.objects.filter(already_paid=True).values_list("code", flat=True))
    found: Found = {}
    after_promise = Q(last_promise__isnull=True)
    if codes:
        calls = _among(CallRecord.objects.filter(code__in=codes), borrowers).annotate(
            last_promise=_last_promise()
        )
        _earliest(
            calls.filter(after_promise | Q(start_time__gt=F("last_promise")))
            .values("borrower_id")
            .annotate(since=Min("start_time"))
            .values_list("borrower_id", "since"),
            found,
        )
    paid = _among(Repayment.objects.all(), borrowers).annotate(last_promise=_last_promise())
    return _earliest(
        paid.filter(after_promise | Q(paid_at__gt=F("last_promise")))
        .values("borrower_id")
        .annotate(since=Min("paid_at"))
        .values_list("borrower_id", "since"),
        found,
    )


def complaint_open(borrowers: Collection[int] | None, now: datetime) -> Found:
    open_ones = _among(Complaint.objects.filter(state__in=Complaint.OPEN_STATES), borrowers)
    return _earliest(
        open_ones.values("borrower_id")
        .annotate(since=Min("opened_at"))
        .values_list("borrower_id", "since"),
        {},
    )


def promise_not_due(borrowers: Collection[int] | None, now: datetime) -> Found:
    waiting = _among(
        Promise.objects.filter(outcome=Promise.Outcome.OPEN, window_end__gt=now), borrowers
    )
    return _earliest(
        waiting.values("borrower_id")
        .annotate(since=Min("made_at"))
        .values_list("borrower_id", "since"),
        {},
    )


def _times(codes: Collection[str], times: int, borrowers: Collection[int] | None) -> Found:
    """The borrowers with at least `times` calls coded one of `codes`, since the call that
    made the count."""
    if not codes or times < 1:
        return {}
    numbered = _among(CallRecord.objects.filter(code__in=list(codes)), borrowers).annotate(
        n=Window(RowNumber(), partition_by=[F("borrower_id")], order_by=[F("start_time").asc()])
    )
    return _earliest(numbered.filter(n=times).values_list("borrower_id", "start_time"), {})


def wrong_person(borrowers: Collection[int] | None, now: datetime) -> Found:
    return _times(
        settings.BLUDASH_STOP_WRONG_PERSON_CODES,
        settings.BLUDASH_STOP_WRONG_PERSON_TIMES,
        borrowers,
    )


def dead_line(borrowers: Collection[int] | None, now: datetime) -> Found:
    return _times(
        settings.BLUDASH_STOP_DEAD_LINE_CODES, settings.BLUDASH_STOP_DEAD_LINE_TIMES, borrowers
    )


REASONS: list[Reason] = [
    Reason("already_paid", "Already paid", already_paid),
    Reason("complaint_open", "Complaint open", complaint_open),
    Reason("promise_not_due", "Promise not yet due", promise_not_due),
    Reason("wrong_person", "Not the right person", wrong_person),
    Reason("dead_line", "Dead line", dead_line),
]


def reason_named(slug: str) -> Reason | None:
    return next((reason for reason in REASONS if reason.slug == slug), None)


@dataclass
class Entry:
    borrower: Borrower
    reasons: list[tuple[Reason, datetime]]  # in REASONS' order

    @property
    def since(self) -> datetime:
        return min(at for _, at in self.reasons)

    @property
    def reason_labels(self) -> str:
        return "; ".join(reason.label for reason, _ in self.reasons)


def reasons_of(
    borrowers: Collection[int] | None, now: datetime
) -> dict[int, list[tuple[Reason, datetime]]]:
    """Every reason each borrower is stopped for, {borrower id: [(reason, since)]}."""
    found: dict[int, list[tuple[Reason, datetime]]] = {}
    for reason in REASONS:
        for borrower_id, since in reason.find(borrowers, now).items():
            found.setdefault(borrower_id, []).append((reason, since))
    return found


def stopped(
    found: dict[int, list[tuple[Reason, datetime]]], reason: str | None = None
) -> list[Entry]:
    """The stop list from reasons_of(None, now), newest stop first; only those stopped for
    `reason` when given."""
    if reason is not None:
        found = {pk: each for pk, each in found.items() if any(r.slug == reason for r, _ in each)}
    people = Borrower.objects.in_bulk(list(found))
    entries = [Entry(people[pk], each) for pk, each in found.items() if pk in people]
    entries.sort(key=lambda entry: (entry.since, entry.borrower.pk), reverse=True)
    return entries


def counts(found: dict[int, list[tuple[Reason, datetime]]]) -> list[tuple[Reason, int]]:
    """How many borrowers each reason stops (one borrower may count under several)."""
    tally = {reason.slug: 0 for reason in REASONS}
    for each in found.values():
        for reason, _ in each:
            tally[reason.slug] += 1
    return [(reason, tally[reason.slug]) for reason in REASONS]


def first_reason(borrower_pks: Collection[int], now: datetime) -> tuple[Reason, int] | None:
    """The first reason (in REASONS' order) that stops any of these borrowers (one person's
    rows in several accounts), with the borrower it stops; None when none does. What the
    pre-dial check asks: it stops at the first reason found."""
    for reason in REASONS:
        found = reason.find(borrower_pks, now)
        for pk in borrower_pks:
            if pk in found:
                return reason, pk
    return None
