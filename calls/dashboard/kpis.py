"""The dashboard's numbers: plain arithmetic over summary rows and the conclusions' flags.

Every rate here counts calls, not distinct people: a borrower called three times is three calls.
A call whose code nobody has classified (Conclusion.classified off, or a code no Conclusion
knows) stays in every denominator and is never in a numerator, so an unclassified code lowers a
rate visibly instead of vanishing from it; how many such calls there are is counted beside the
rates. Calls still in progress (no code yet) are placed calls too, counted apart.

A call Blu reports ended (endTime set) without a conclusion code is finished, as Task.calls_final
and the sync count it, but its outcome is unknown: the summaries store it under NO_CODE, and it
counts as unclassified (every denominator, no numerator), shown as "Ended without a code". So the
code '' means "still in progress" alone, and placed = in progress + finished holds on every page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from calls.conclusions.categories import (
    CATEGORY_ORDER,
    FLAGS,
    NO_CODE,
    NO_CODE_LABEL,
    UNCLASSIFIED,
    classified,
)
from calls.models import Conclusion

IN_PROGRESS = "In progress"
# Bars stack categories in this order: the most valuable outcome first, calls in flight last.
BAR_ORDER = [*CATEGORY_ORDER, IN_PROGRESS]
COUNTS_CALLS = "counts calls, not people"


@dataclass(frozen=True)
class CodeTotal:
    """Calls with one conclusion code ('' while in progress, NO_CODE if ended without one),
    summed over some summary rows."""

    code: str
    calls: int
    answered: int = 0
    talk_seconds: int = 0


@dataclass(frozen=True)
class Rate:
    """numerator / denominator, both counts of calls, each saying what it counts."""

    numerator: int
    denominator: int
    counts: str  # what the numerator counts: "connected calls"
    of: str  # what the denominator counts: "calls placed"

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def percent(self) -> str:
        value = self.value
        return "—" if value is None else f"{100 * value:.1f}%"

    @property
    def fraction(self) -> str:
        return f"{self.numerator:,} / {self.denominator:,}"

    @property
    def title(self) -> str:
        return f"{self.numerator:,} {self.counts} / {self.denominator:,} {self.of} ({COUNTS_CALLS})"

    def __str__(self) -> str:
        return self.percent


@dataclass(frozen=True)
class Average:
    """Talk seconds over answered calls; None when no call was answered."""

    seconds: int
    calls: int

    @property
    def value(self) -> float | None:
        return self.seconds / self.calls if self.calls else None

    @property
    def title(self) -> str:
        return f"{self.seconds:,} s of talk / {self.calls:,} answered calls"


@dataclass(frozen=True)
class Kpis:
    """Counts of calls over some summary rows; the rates are derived from them."""

    placed: int = 0
    in_progress: int = 0
    unclassified: int = 0
    connected: int = 0
    live_person: int = 0
    right_party: int = 0
    promises: int = 0
    already_paid: int = 0
    complaints: int = 0
    answered: int = 0
    talk_seconds: int = 0

    @property
    def connect_rate(self) -> Rate:
        return Rate(self.connected, self.placed, "connected calls", "calls placed")

    @property
    def live_contact_rate(self) -> Rate:
        return Rate(self.live_person, self.placed, "calls a person spoke on", "calls placed")

    @property
    def right_party_rate(self) -> Rate:
        return Rate(self.right_party, self.placed, "right-party contacts", "calls placed")

    @property
    def promise_rate(self) -> Rate:
        return Rate(self.promises, self.right_party, "promises to pay", "right-party contacts")

    @property
    def already_paid_rate(self) -> Rate:
        return Rate(self.already_paid, self.placed, "already-paid calls", "calls placed")

    @property
    def complaint_rate(self) -> Rate:
        return Rate(self.complaints, self.placed, "calls at complaint risk", "calls placed")

    @property
    def unclassified_rate(self) -> Rate:
        return Rate(self.unclassified, self.placed, "calls with unclassified codes", "calls placed")

    @property
    def average_talk(self) -> Average:
        return Average(self.talk_seconds, self.answered)


def category_of(code: str, conclusions: Mapping[str, Conclusion]) -> str:
    if not code:
        return IN_PROGRESS
    conclusion = conclusions.get(code)
    return UNCLASSIFIED if conclusion is None or code == NO_CODE else conclusion.category


def label_of(code: str, conclusions: Mapping[str, Conclusion]) -> str:
    """What a code means: its conclusion's label; the code itself when no conclusion knows it."""
    if code == NO_CODE:
        return NO_CODE_LABEL
    conclusion = conclusions.get(code)
    return conclusion.label if conclusion is not None else code


def kpis(rows: Iterable[CodeTotal], conclusions: Mapping[str, Conclusion]) -> Kpis:
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts["placed"] += row.calls
        counts["answered"] += row.answered
        counts["talk_seconds"] += row.talk_seconds
        if not row.code:
            counts["in_progress"] += row.calls
            continue
        conclusion = classified(row.code, conclusions)
        if conclusion is None:
            counts["unclassified"] += row.calls
            continue
        for flag in FLAGS:
            if getattr(conclusion, flag.name):
                counts[flag.tally] += row.calls
    return Kpis(**counts)


# --- periods: today, 7 and 30 days, by the company's calendar ----------------------------------

PERIODS = [("Today", 1), ("Last 7 days", 7), ("Last 30 days", 30)]
CHART_DAYS = 30


@dataclass(frozen=True)
class Period:
    name: str
    first: date
    last: date
    kpis: Kpis


def periods(
    rows: Iterable[tuple[date, CodeTotal]], today: date, conclusions: Mapping[str, Conclusion]
) -> list[Period]:
    """Today, the last 7 and the last 30 days, each ending today (days counted in the rows'
    zone, which is the company's); rows after today are left out."""
    rows = list(rows)
    result = []
    for name, days in PERIODS:
        first = today - timedelta(days=days - 1)
        total = kpis((row for day, row in rows if first <= day <= today), conclusions)
        result.append(Period(name, first, today, total))
    return result


# --- mixes: calls by category, for the stacked bars ---------------------------------------------


@dataclass(frozen=True)
class Segment:
    category: str
    calls: int
    share: Rate
    codes: tuple[tuple[str, int], ...] = ()  # the codes in it, most calls first


def mix(code_counts: Mapping[str, int], conclusions: Mapping[str, Conclusion]) -> list[Segment]:
    """Calls per category in BAR_ORDER, empty categories left out; '' counts as in progress."""
    by_category: dict[str, dict[str, int]] = defaultdict(dict)
    for code, calls in code_counts.items():
        if calls:
            by_category[category_of(code, conclusions)][code] = calls
    total = sum(sum(codes.values()) for codes in by_category.values())
    segments = []
    for category in BAR_ORDER:
        codes = by_category.get(category)
        if not codes:
            continue
        calls = sum(codes.values())
        ranked = tuple(sorted(codes.items(), key=lambda item: (-item[1], item[0])))
        segments.append(
            Segment(category, calls, Rate(calls, total, "calls", "calls placed"), ranked)
        )
    return segments


@dataclass(frozen=True)
class DayMix:
    day: date
    total: int
    segments: list[Segment] = field(default_factory=list)


def daily_mix(
    rows: Iterable[tuple[date, CodeTotal]],
    first: date,
    last: date,
    conclusions: Mapping[str, Conclusion],
) -> list[DayMix]:
    """One entry per day from first to last, days without calls included (as empty)."""
    counts: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day, row in rows:
        if first <= day <= last:
            counts[day][row.code] += row.calls
    days = []
    day = first
    while day <= last:
        code_counts = counts.get(day, {})
        days.append(DayMix(day, sum(code_counts.values()), mix(code_counts, conclusions)))
        day += timedelta(days=1)
    return days


# --- one task: calls by code, and the funnel ------------------------------------------------------


@dataclass(frozen=True)
class CodeRow:
    code: str
    label: str
    category: str
    calls: int
    share: Rate  # of the finished calls (those with a conclusion code, and NO_CODE's)
    average_talk: Average


def breakdown(rows: Iterable[CodeTotal], conclusions: Mapping[str, Conclusion]) -> list[CodeRow]:
    """Finished calls, one row per code (NO_CODE for those that ended without one), most calls
    first; calls in progress are left out."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        if row.code:
            total = totals[row.code]
            total[0] += row.calls
            total[1] += row.answered
            total[2] += row.talk_seconds
    finished = sum(calls for calls, _, _ in totals.values())
    result = []
    for code, (calls, answered, talk) in sorted(
        totals.items(), key=lambda item: (-item[1][0], item[0])
    ):
        result.append(
            CodeRow(
                code=code,
                label=label_of(code, conclusions),
                category=category_of(code, conclusions),
                calls=calls,
                share=Rate(calls, finished, "calls", "finished calls"),
                average_talk=Average(talk, answered),
            )
        )
    return result


@dataclass(frozen=True)
class Step:
    name: str
    calls: int
    of_placed: Rate


def funnel(k: Kpis) -> list[Step]:
    """Placed, connected, live person, right party, promise: each as a share of calls placed."""
    steps = [
        ("Placed", k.placed, "calls placed"),
        ("Connected", k.connected, "connected calls"),
        ("Live person", k.live_person, "calls a person spoke on"),
        ("Right party", k.right_party, "right-party contacts"),
        ("Promise to pay", k.promises, "promises to pay"),
    ]
    return [Step(name, n, Rate(n, k.placed, counts, "calls placed")) for name, n, counts in steps]
