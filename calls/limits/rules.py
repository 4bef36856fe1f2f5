"""Which of one borrower's calls broke which contact limit, worked out from the calls alone.

The rules, per call (calls without a start time are in none: they have no place in time):
- too many: with it, more than `max_calls_7d` of the borrower's calls started in the 7 days up
  to its start, both ends included (a call exactly 7 days earlier is in its window, as in the
  borrower's "calls in 7 days");
- in hold-off: it started less than `hold_off_days` after an earlier right-party call (a call
  exactly that long after is allowed);
- outside hours: its start, on the account's clock, is before `calling_from` or after
  `calling_until` (both allowed; the clock's own change of offset is the zone's).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from calls.models import ContactLimits

WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Call:
    pk: int
    start: datetime
    right_party: bool


@dataclass(frozen=True)
class Broken:
    too_many: bool = False
    in_hold_off: bool = False
    outside_hours: bool = False

    def __bool__(self) -> bool:
        return self.too_many or self.in_hold_off or self.outside_hours


def hold_off(limits: ContactLimits) -> timedelta | None:
    return timedelta(days=limits.hold_off_days) if limits.hold_off_days else None


def reach(limits: ContactLimits) -> timedelta:
    """How far back a call's flags look: a call changes the flags of later calls this far on."""
    return max(WINDOW, hold_off(limits) or timedelta(0))


def outside_hours(start: datetime, limits: ContactLimits, zone: ZoneInfo) -> bool:
    return not limits.allows_time(start.astimezone(zone).time())


def broken(calls: Iterable[Call], limits: ContactLimits, zone: ZoneInfo) -> dict[int, Broken]:
    """Each call's broken rules, for one borrower's calls in start order (then pk). Calls before
    the first whose flags the caller wants are needed as context: those within reach()."""
    recent: deque[datetime] = deque()
    last_right_party: datetime | None = None
    gap = hold_off(limits)
    found: dict[int, Broken] = {}
    for call in calls:
        recent.append(call.start)
        while recent[0] < call.start - WINDOW:
            recent.popleft()
        found[call.pk] = Broken(
            too_many=limits.max_calls_7d is not None and len(recent) > limits.max_calls_7d,
            in_hold_off=(
                gap is not None
                and last_right_party is not None
                and call.start < last_right_party + gap
            ),
            outside_hours=outside_hours(call.start, limits, zone),
        )
        if call.right_party:
            last_right_party = call.start
    return found
