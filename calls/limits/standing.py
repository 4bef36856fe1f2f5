"""Where borrowers stand against their account's contact limits now: one borrower's standing
for its page, and the borrowers at or over a limit (the stop list's question, the borrower
list's filter). Every query goes through an index: the calls' (borrower, start) index for one
borrower, the borrowers' calls-in-7-days and last right-party indexes for the many.

The many are read from what the writes keep (Borrower.calls_7d, last_right_party_at): a count
in 7 days drops when `blu borrowers refresh` runs (every 5 minutes), so a borrower may stay at
the limit that much longer than the calls say, never leave it early.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q
from django.utils import timezone

from calls.limits import rules
from calls.limits.breaches import limits_of, right_party_codes
from calls.models import BluAccount, Borrower, CallRecord, ContactLimits


@dataclass(frozen=True)
class Standing:
    """One borrower (one account's row) against that account's limits at `now`."""

    borrower_pk: int
    account: str
    now: datetime
    zone: ZoneInfo
    max_calls_7d: int | None
    calls_7d: int
    # When the oldest calls counted leave the window enough for one more call (at the limit).
    calls_allowed_at: datetime | None
    hold_off_days: int
    last_right_party_at: datetime | None
    calling_from: time
    calling_until: time
    within_hours: bool

    @property
    def at_call_limit(self) -> bool:
        return self.max_calls_7d is not None and self.calls_7d >= self.max_calls_7d

    @property
    def hold_off_until(self) -> datetime | None:
        """The end of a hold-off still running, else None."""
        if not self.hold_off_days or self.last_right_party_at is None:
            return None
        until = self.last_right_party_at + timedelta(days=self.hold_off_days)
        return until if until > self.now else None

    @property
    def at_or_over_limit(self) -> bool:
        """At the calls limit or in a hold-off. The calling hours are the same for every
        borrower of the account, so they are not one borrower's limit: `within_hours`."""
        return self.at_call_limit or self.hold_off_until is not None


def standing(borrower: Borrower, now: datetime | None = None) -> Standing:
    now = now or timezone.now()
    limits = limits_of(borrower.account_id)
    account = BluAccount.objects.only("name", "time_zone").get(pk=borrower.account_id)
    calls = CallRecord.objects.filter(borrower_id=borrower.pk, start_time__lte=now)
    recent: list[datetime] = [
        start
        for start in calls.filter(start_time__gte=now - rules.WINDOW)
        .order_by("start_time")
        .values_list("start_time", flat=True)
        if start is not None
    ]
    allowed_at: datetime | None = None
    if limits.max_calls_7d is not None and len(recent) >= limits.max_calls_7d:
        # The next call is allowed once all but max - 1 of these are over 7 days old; a call
        # exactly 7 days old still counts, so just after that.
        oldest_kept = recent[len(recent) - limits.max_calls_7d]
        allowed_at = oldest_kept + rules.WINDOW + timedelta(microseconds=1)
    last = (
        calls.filter(code__in=sorted(right_party_codes()))
        .order_by("-start_time")
        .values_list("start_time", flat=True)
        .first()
    )
    zone = account.zone
    return Standing(
        borrower_pk=borrower.pk,
        account=account.name,
        now=now,
        zone=zone,
        max_calls_7d=limits.max_calls_7d,
        calls_7d=len(recent),
        calls_allowed_at=allowed_at,
        hold_off_days=limits.hold_off_days,
        last_right_party_at=last,
        calling_from=limits.calling_from,
        calling_until=limits.calling_until,
        within_hours=not rules.outside_hours(now, limits, zone),
    )


def _at_limit(account_pk: int, limits: ContactLimits, now: datetime) -> Q | None:
    tests = []
    if limits.max_calls_7d is not None:
        tests.append(Q(calls_7d__gte=limits.max_calls_7d))
    if gap := rules.hold_off(limits):
        tests.append(Q(last_right_party_at__gt=now - gap))
    if not tests:
        return None
    found = tests[0]
    for test in tests[1:]:
        found |= test
    return Q(account_id=account_pk) & found


def at_limit_filter(now: datetime | None = None, account_pks: list[int] | None = None) -> Q:
    """The borrowers at or over one of their account's limits (Borrower rows): each account's
    limits are its own, so one test per account (a few)."""
    now = now or timezone.now()
    accounts = BluAccount.objects.order_by("pk")
    if account_pks is not None:
        accounts = accounts.filter(pk__in=account_pks)
    saved = {row.account_id: row for row in ContactLimits.objects.all()}
    found = Q(pk__in=[])
    for pk in accounts.values_list("pk", flat=True):
        test = _at_limit(pk, saved.get(pk) or ContactLimits(account_id=pk), now)
        if test is not None:
            found |= test
    return found


def keys_at_limit(account: BluAccount, now: datetime | None = None) -> set[str]:
    """The keys of the account's borrowers at or over a contact limit now (the calls in 7 days
    or a hold-off): the stop list's question. One indexed query."""
    return set(
        Borrower.objects.filter(at_limit_filter(now, [account.pk])).values_list("key", flat=True)
    )
