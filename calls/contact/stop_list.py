"""Who must not be called next, and why: each reason is a function that finds the borrowers it
holds for, with the moment since when; the stop list is every reason's borrowers together.

A reason is a function of the borrowers to look at (None: every borrower) and the time now that
returns querysets of (borrower id, since) rows. With borrowers given (one person, for Blu's
pre-dial check) each goes down an index that leads with the borrower, and the pre-dial check
sends every reason's in one statement (a UNION ALL: one round trip, not one a reason); with None
each is one set-based query over the flagged calls, promises, repayments or complaints. Adding a
reason is adding a Reason to REASONS (the contact limits plug in here); the pages, the export
and the pre-dial check read REASONS and nothing else.

The rules:
- already paid: a call flagged already_paid, or a repayment, since the borrower's last promise
  (ever, with no promise); since the first of them;
- complaint open: a complaint new or acknowledged; since it was opened;
- promise not due: an open promise whose window has not ended; since the promise;
- not the right person: BLUDASH_STOP_WRONG_PERSON_TIMES calls coded one of
  BLUDASH_STOP_WRONG_PERSON_CODES since the borrower's last right-party call; since the last of
  those that made the count;
- dead line: BLUDASH_STOP_DEAD_LINE_TIMES calls coded one of BLUDASH_STOP_DEAD_LINE_CODES
  (D03 number does not exist, D04 out of service) since the borrower's last right-party call;
  since the one that made the count;
- at a contact limit: the account's calls in 7 days reached, or a hold-off after a right-party
  conversation running (calls.limits.standing); since the borrower's last call, the one that
  reached the limit at the latest.
Those two count the borrower's calls across tasks since the last right-party call
(Borrower.last_right_party_at, kept by the contact limits' writes; every call, with none): a
number that reached the borrower since is neither a wrong number nor a dead line any longer
(collections.md: right party is "the borrower, not a relative or a wrong number"), and a stop
for what that call disproved would keep the lender from someone it can now reach.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import F, Min, OuterRef, Q, QuerySet, Subquery, Value, Window
from django.db.models.functions import RowNumber

from calls.limits import standing
from calls.models import Borrower, CallRecord, Complaint, Conclusion, Promise, Repayment

Found = dict[int, datetime]
Borrowers = Collection[int] | None
# Each queryset yields (borrower id, since) rows, as values_list("borrower_id", "since").
Rows = Callable[[Borrowers, datetime], list[QuerySet]]


@dataclass(frozen=True)
class Reason:
    slug: str  # what the page's filter, the export and the pre-dial answer name it by
    label: str
    rows: Rows

    def find(self, borrowers: Borrowers, now: datetime) -> Found:
        """{borrower id: since} of the borrowers (None: all) this reason stops now."""
        found: Found = {}
        for rows in self.rows(borrowers, now):
            _earliest(rows, found)
        return found


def among(found: QuerySet, borrowers: Borrowers) -> QuerySet:
    """`found` narrowed to the borrowers given (None: every one with a borrower)."""
    if borrowers is None:
        return found.filter(borrower_id__isnull=False)
    return found.filter(borrower_id__in=list(borrowers))


def _earliest(rows: Iterable[tuple[int, datetime | None]], into: Found) -> Found:
    for borrower_id, at in rows:
        if at is not None and (borrower_id not in into or at < into[borrower_id]):
            into[borrower_id] = at
    return into


def earliest(found: QuerySet, field: str) -> QuerySet:
    """(borrower id, the earliest `field`) per borrower."""
    # No ordering: a statement in a UNION may have none (SQLite refuses one).
    grouped = found.order_by().values("borrower_id").annotate(since=Min(field))
    return grouped.values_list("borrower_id", "since")


def _last_promise():
    return Subquery(
        Promise.objects.filter(borrower_id=OuterRef("borrower_id"))
        .order_by("-made_at")
        .values("made_at")[:1]
    )


def already_paid(borrowers: Borrowers, now: datetime) -> list[QuerySet]:
    claiming = Conclusion.objects.filter(already_paid=True).values("code")
    no_promise = Q(last_promise__isnull=True)
    calls = among(CallRecord.objects.filter(code__in=claiming), borrowers).annotate(
        last_promise=_last_promise()
    )
    paid = among(Repayment.objects.all(), borrowers).annotate(last_promise=_last_promise())
    return [
        earliest(calls.filter(no_promise | Q(start_time__gt=F("last_promise"))), "start_time"),
        earliest(paid.filter(no_promise | Q(paid_at__gt=F("last_promise"))), "paid_at"),
    ]


def complaint_open(borrowers: Borrowers, now: datetime) -> list[QuerySet]:
    open_ones = among(Complaint.objects.filter(state__in=Complaint.OPEN_STATES), borrowers)
    return [earliest(open_ones, "opened_at")]


def promise_not_due(borrowers: Borrowers, now: datetime) -> list[QuerySet]:
    waiting = Promise.objects.filter(outcome=Promise.Outcome.OPEN, window_end__gt=now)
    return [earliest(among(waiting, borrowers), "made_at")]


def _times(codes: Collection[str], times: int, borrowers: Borrowers) -> list[QuerySet]:
    """The borrowers with at least `times` calls coded one of `codes` since their last
    right-party call (ever, with none), since the call that made the count."""
    if not codes or times < 1:
        return []
    last_reached = F("borrower__last_right_party_at")
    coded = CallRecord.objects.filter(code__in=list(codes)).filter(
        Q(borrower__last_right_party_at__isnull=True) | Q(start_time__gt=last_reached)
    )
    # The filter is the statement's WHERE: the window numbers only the calls it leaves.
    numbered = among(coded, borrowers).annotate(
        n=Window(RowNumber(), partition_by=[F("borrower_id")], order_by=[F("start_time").asc()])
    )
    counted = numbered.filter(n=times).annotate(since=F("start_time")).order_by()
    return [counted.values_list("borrower_id", "since")]


def wrong_person(borrowers: Borrowers, now: datetime) -> list[QuerySet]:
    return _times(
        settings.BLUDASH_STOP_WRONG_PERSON_CODES,
        settings.BLUDASH_STOP_WRONG_PERSON_TIMES,
        borrowers,
    )


def dead_line(borrowers: Borrowers, now: datetime) -> list[QuerySet]:
    return _times(
        settings.BLUDASH_STOP_DEAD_LINE_CODES, settings.BLUDASH_STOP_DEAD_LINE_TIMES, borrowers
    )


def at_contact_limit(borrowers: Borrowers, now: datetime) -> list[QuerySet]:
    held = Borrower.objects.filter(standing.at_limit_filter(now))
    if borrowers is not None:
        held = held.filter(pk__in=list(borrowers))
    rows = held.order_by().annotate(borrower_id=F("pk"), since=F("last_call_at"))
    return [rows.values_list("borrower_id", "since")]


REASONS: list[Reason] = [
    Reason("already_paid", "Already paid", already_paid),
    Reason("complaint_open", "Complaint open", complaint_open),
    Reason("promise_not_due", "Promise not yet due", promise_not_due),
    Reason("wrong_person", "Not the right person", wrong_person),
    Reason("dead_line", "Dead line", dead_line),
    Reason("at_contact_limit", "At a contact limit", at_contact_limit),
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


def tagged_rows(borrower_pks: Collection[int], now: datetime) -> QuerySet | None:
    """Every reason's (borrower id, since, place in REASONS) rows for these borrowers, in one
    UNION ALL; None when no reason has a question to ask."""
    tagged = [
        rows.annotate(place=Value(place)).values_list("borrower_id", "since", "place")
        for place, reason in enumerate(REASONS)
        for rows in reason.rows(borrower_pks, now)
    ]
    if not tagged:
        return None
    return tagged[0].union(*tagged[1:], all=True) if len(tagged) > 1 else tagged[0]


def first_of(rows: Iterable[tuple[int, datetime | None, int]]) -> tuple[Reason, int] | None:
    """The first reason (in REASONS' order) among tagged_rows' rows, with the borrower it stops."""
    hits = [(place, pk) for pk, since, place in rows if since is not None]
    if not hits:
        return None
    place, pk = min(hits)
    return REASONS[place], pk


def first_reason(borrower_pks: Collection[int], now: datetime) -> tuple[Reason, int] | None:
    """The first reason (in REASONS' order) that stops any of these borrowers (one person's
    rows in several accounts), with the borrower it stops; None when none does. What the
    pre-dial check asks, in one statement (stop_statement.py keeps it built)."""
    union = tagged_rows(borrower_pks, now)
    return None if union is None else first_of(union)
