"""When calls work: right-party and promise rates by weekday and hour of the company's zone,
summed from the accounts' hour rows (AccountHourSummary, kept by every write) with the same
definitions as the overview (calls/dashboard/kpis.py): right party of calls placed, promises of
right-party contacts. One grouped query over a few thousand rows, whatever the number of calls.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from django.db.models import Sum
from django.db.models.functions import ExtractIsoWeekDay

from calls.dashboard.kpis import CodeTotal, Kpis, Rate, kpis
from calls.models import AccountHourSummary, Conclusion

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]  # ISO order, Monday first
HOURS = range(24)
# Below this many calls in its denominator a cell's rate says more about chance than about the
# hour (3 of 5 is 60%): it is shown as too few, its counts still on hover.
MIN_CALLS = 20
BANDS = 5  # colour steps between 0 and the highest rate shown
EN_DASH = "\u2013"  # as ranges are written


@dataclass(frozen=True)
class Cell:
    weekday: int  # 0 = Monday
    hour: int
    counts: Kpis
    rate: Rate  # what this grid shows

    @property
    def few(self) -> bool:
        return self.rate.denominator < MIN_CALLS

    @property
    def shown(self) -> str:
        """What the cell says: its rate to the whole percent, or why it has none."""
        if self.counts.placed == 0:
            return ""
        value = self.rate.value
        if self.few or value is None:
            return "few"
        return f"{100 * value:.0f}%"

    @property
    def label(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.hour:02}:00"

    @property
    def title(self) -> str:
        """The counts behind the cell, for its hover."""
        k = self.counts
        right = Rate(k.right_party, k.placed, "", "").percent
        promises = Rate(k.promises, k.right_party, "", "").percent
        text = (
            f"{self.label} — {k.placed:,} call{'s' * (k.placed != 1)}, "
            f"{k.right_party:,} right party ({right} of calls), "
            f"{k.promises:,} promise{'s' * (k.promises != 1)} ({promises} of right party)"
        )
        return text + (f": too few to rate (under {MIN_CALLS})" if self.few else "")


@dataclass(frozen=True)
class Grid:
    """One heatmap: 7 rows of 24 cells, coloured in BANDS steps up to `top`."""

    name: str
    cells: list[list[Cell]]
    top: float  # the rate the darkest band ends at

    def band(self, cell: Cell) -> int | None:
        value = cell.rate.value
        if cell.few or value is None:
            return None
        if not self.top:
            return 0
        return min(BANDS - 1, int(value / self.top * BANDS))

    @property
    def rows(self) -> list[tuple[str, list[tuple[Cell, int | None]]]]:
        return [
            (WEEKDAYS[n], [(cell, self.band(cell)) for cell in row])
            for n, row in enumerate(self.cells)
        ]

    @property
    def legend(self) -> list[tuple[int, str]]:
        step = self.top / BANDS
        return [
            (n, f"{100 * n * step:.0f}{EN_DASH}{100 * (n + 1) * step:.0f}%") for n in range(BANDS)
        ]


def hour_code_totals(
    first: date, last: date, account_pk: int | None = None
) -> dict[tuple[int, int], list[CodeTotal]]:
    """Calls per (weekday, hour) and code from first to last (company days): one grouped query
    over the hour rows."""
    rows = AccountHourSummary.objects.filter(day__gte=first, day__lte=last)
    if account_pk is not None:
        rows = rows.filter(account_id=account_pk)
    grouped = (
        rows.annotate(weekday=ExtractIsoWeekDay("day"))
        .order_by()
        .values("weekday", "hour", "code")
        .annotate(n=Sum("calls"))
    )
    totals: dict[tuple[int, int], list[CodeTotal]] = defaultdict(list)
    for row in grouped:
        totals[(row["weekday"] - 1, row["hour"])].append(CodeTotal(row["code"], row["n"] or 0))
    return totals


def grids(
    totals: Mapping[tuple[int, int], Iterable[CodeTotal]],
    conclusions: Mapping[str, Conclusion],
) -> list[Grid]:
    """The right-party grid and the promise grid from the same counts."""
    counted = {
        (weekday, hour): kpis(totals.get((weekday, hour), ()), conclusions)
        for weekday in range(7)
        for hour in HOURS
    }
    made = []
    for name, rate_of in (
        ("Right-party rate", lambda k: k.right_party_rate),
        ("Promise rate", lambda k: k.promise_rate),
    ):
        cells = [
            [Cell(w, h, counted[(w, h)], rate_of(counted[(w, h)])) for h in HOURS] for w in range(7)
        ]
        rated = [
            cell.rate.value
            for row in cells
            for cell in row
            if not cell.few and cell.rate.value is not None
        ]
        made.append(Grid(name, cells, _nice_top(max(rated, default=0.0))))
    return made


def _nice_top(highest: float) -> float:
    """The highest rate rounded up to a whole 5% (at least 5%), so the legend reads 0-8%,
    8-16%... rather than 0-7.3%."""
    return max(0.05, math.ceil(highest * 20 - 1e-9) / 20)
