"""How often the robot is right, per conclusion code and per bot, from the reviewed calls, with
a 95% Wilson interval: ten reviews say little, and the page says how little.

The sample takes a fixed number of calls per code (more of promises and complaints), so a plain
share of all reviews would let a rare code weigh as much as a common one. Across codes the share
is therefore weighted: each code's share counts by that code's calls on the days reviewed
(stratified, as a survey would), with a normal interval from the codes' own variances.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from django.db.models import QuerySet, Sum

from calls.models import AccountDaySummary, CallReview

Z_95 = 1.959964


def wilson(right: int, reviewed: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a share of right ones (right of reviewed); (0, 1) for none
    reviewed. Unlike p ± z·se it stays within 0 and 1 and is honest at 0 of 3 or 10 of 10."""
    if reviewed <= 0:
        return 0.0, 1.0
    share = right / reviewed
    z2 = z * z
    centre = (share + z2 / (2 * reviewed)) / (1 + z2 / reviewed)
    half = z * math.sqrt(share * (1 - share) / reviewed + z2 / (4 * reviewed**2))
    half /= 1 + z2 / reviewed
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Accuracy:
    """The reviewed calls of one code or one bot."""

    key: str
    reviewed: int = 0
    right: int = 0
    # For a code: the codes reviewers said it should have been, most often first.
    corrections: Counter = field(default_factory=Counter)

    @property
    def wrong(self) -> int:
        return self.reviewed - self.right

    @property
    def share(self) -> float:
        return self.right / self.reviewed if self.reviewed else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.right, self.reviewed)

    @property
    def text(self) -> str:
        """As the page shows it: "80% (49-94%), 10 reviewed", with an en dash."""
        low, high = self.interval
        return (
            f"{self.share:.0%} ({low * 100:.0f}\u2013{high * 100:.0f}%), {self.reviewed} reviewed"
        )


def reviewed(since: date | None = None, until: date | None = None) -> QuerySet:
    found = CallReview.objects.exclude(verdict="")
    if since is not None:
        found = found.filter(day__gte=since)
    if until is not None:
        found = found.filter(day__lte=until)
    return found


def _grouped(found: QuerySet, key: str) -> list[Accuracy]:
    groups: dict[str, Accuracy] = {}
    rows = found.values_list(key, "verdict", "right_code")
    for value, verdict, right_code in rows.iterator():
        group = groups.setdefault(value, Accuracy(value))
        group.reviewed += 1
        if verdict == CallReview.Verdict.RIGHT:
            group.right += 1
        elif right_code:
            group.corrections[right_code] += 1
    # The most reviewed first: what can be read with most confidence.
    return sorted(groups.values(), key=lambda group: (-group.reviewed, group.key))


def by_code(found: QuerySet) -> list[Accuracy]:
    return _grouped(found, "code")


def by_bot(found: QuerySet) -> list[Accuracy]:
    return _grouped(found, "bot_id")


@dataclass
class Weighted:
    """The robot's accuracy across codes, each code weighted by its calls."""

    reviewed: int
    share: float
    interval: tuple[float, float]

    @property
    def text(self) -> str:
        low, high = self.interval
        return (
            f"{self.share:.0%} ({low * 100:.0f}\u2013{high * 100:.0f}%), {self.reviewed} reviewed"
        )


def overall(found: QuerySet, z: float = Z_95) -> Weighted:
    """Each reviewed code's share weighted by the code's calls on the days reviewed (codes with
    no review are left out: nothing is known of them). Each code's variance is taken at
    (right + 1) / (reviewed + 2), so that 10 of 10 does not claim certainty."""
    codes = by_code(found)
    days = found.values("day").distinct()
    calls = dict(
        AccountDaySummary.objects.filter(day__in=days, code__in=[c.key for c in codes])
        .values_list("code")
        .annotate(calls=Sum("calls"))
    )
    # A code reviewed but gone from the day rows (reclassified, renamed) counts as its reviews.
    weights = {c.key: max(calls.get(c.key) or 0, c.reviewed) for c in codes}
    total = sum(weights.values())
    if not total:
        return Weighted(0, 0.0, (0.0, 1.0))
    share = sum(weights[c.key] / total * c.share for c in codes)
    variance = 0.0
    for c in codes:
        adjusted = (c.right + 1) / (c.reviewed + 2)
        variance += (weights[c.key] / total) ** 2 * adjusted * (1 - adjusted) / c.reviewed
    half = z * math.sqrt(variance)
    return Weighted(
        sum(c.reviewed for c in codes), share, (max(0.0, share - half), min(1.0, share + half))
    )
