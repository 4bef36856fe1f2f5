"""The dashboard's charts, drawn on the server as SVG: the outcome-mix bar, calls per day, calls
per code and the funnel.

Charts are plain SVG with geometry in attributes (x, y, width, height) and colour by CSS class
(one class per category), so they need no script and no style attribute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.template.defaultfilters import pluralize
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from calls.dashboard.formatting import category_class
from calls.dashboard.kpis import CodeRow, DayMix, Segment, Step


def _num(value: float) -> str:
    # SVG wants a dot decimal whatever the locale: never let the template localize these.
    return f"{value:.2f}".rstrip("0").rstrip(".")


# --- one stacked bar (tasks table: outcome mix) ---------------------------------------------


@dataclass(frozen=True)
class Rect:
    x: str
    y: str
    width: str
    height: str
    css: str
    title: str


def _calls(n: int) -> str:
    return f"{n:,} call{pluralize(n)}"


def _segment_title(segment: Segment, prefix: str = "") -> str:
    named = [(code, n) for code, n in segment.codes if code]
    codes = ", ".join(f"{code} {n:,}" for code, n in named[:6])
    more = " …" if len(named) > 6 else ""
    return (
        f"{prefix}{segment.category}: {_calls(segment.calls)} ({segment.share.percent} of "
        f"{segment.share.denominator:,})" + (f" · {codes}{more}" if codes else "")
    )


def bar_context(segments: list[Segment], label: str = "Outcome mix") -> dict[str, Any]:
    total = sum(s.calls for s in segments)
    rects, x = [], 0.0
    for segment in segments:
        width = 100 * segment.calls / total if total else 0
        rects.append(
            Rect(
                _num(x),
                "0",
                _num(width),
                "10",
                category_class(segment.category),
                _segment_title(segment),
            )
        )
        x += width
    summary = "; ".join(f"{s.category} {s.calls:,}" for s in segments) or "no calls"
    return {"rects": rects, "label": f"{label}: {summary}", "empty": not total}


def outcome_bar(segments: list[Segment]) -> SafeString:
    """The outcome-mix bar as SVG, built here rather than by a template: the tasks table draws
    one a row, and rendering a template 50 times was a third of that page's time."""
    context = bar_context(segments)
    if context["empty"]:
        return SafeString('<span class="muted">no calls</span>\n')
    rects = format_html_join(
        "",
        '<rect class="{}" x="{}" y="0" width="{}" height="10"><title>{}</title></rect>',
        ((r.css, r.x, r.width, r.title) for r in context["rects"]),
    )
    return format_html(
        '<svg class="mix" viewBox="0 0 100 10" preserveAspectRatio="none" width="100" '
        'height="12" role="img" aria-label="{}">{}</svg>\n',
        context["label"],
        rects,
    )


# --- calls per day, stacked by category (overview) ------------------------------------------

CHART_WIDTH, CHART_HEIGHT = 720, 220
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 48, 712, 10, 190


NICE_STEPS = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


def nice_ceiling(value: int) -> int:
    """A round number at or above value, close enough that the bars fill most of the chart:
    553 -> 600, 1,234 -> 1,500 (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in NICE_STEPS:
        candidate = float(step * power)
        if candidate >= value and candidate.is_integer():
            return int(candidate)
    return 10 * power  # pragma: no cover - the loop always returns


@dataclass(frozen=True)
class Tick:
    y: str
    label: str


@dataclass(frozen=True)
class DayBar:
    day: Any
    total: int
    rects: list[Rect]
    hover: Rect  # the whole column, so an empty or thin day still shows its tooltip
    label_x: str
    label: str  # the day under every 7th bar, counting back from the last


def day_chart(days: list[DayMix]) -> dict[str, Any]:
    top = nice_ceiling(max((d.total for d in days), default=0))
    height = PLOT_BOTTOM - PLOT_TOP
    step = (PLOT_RIGHT - PLOT_LEFT) / max(len(days), 1)
    bars = []
    for i, day in enumerate(days):
        x = PLOT_LEFT + i * step
        bar_x, bar_w = x + step * 0.15, step * 0.7
        y = float(PLOT_BOTTOM)
        rects = []
        for segment in day.segments:
            h = height * segment.calls / top
            y -= h
            rects.append(
                Rect(
                    _num(bar_x),
                    _num(y),
                    _num(bar_w),
                    _num(h),
                    category_class(segment.category),
                    _segment_title(segment, prefix=f"{day.day:%a %d %b}: "),
                )
            )
        hover_title = f"{day.day:%a %d %b}: {_calls(day.total)} placed" + "".join(
            f"\n{s.category}: {s.calls:,}" for s in day.segments
        )
        hover = Rect(_num(x), str(PLOT_TOP), _num(step), str(height), "hover", hover_title)
        from_end = len(days) - 1 - i
        label = f"{day.day:%d %b}" if from_end % 7 == 0 else ""
        bars.append(DayBar(day.day, day.total, rects, hover, _num(x + step / 2), label))
    # A middle line only where it falls on a whole number of calls.
    fractions = (0, 0.5, 1) if top % 2 == 0 else (0, 1)
    ticks = [
        Tick(_num(PLOT_BOTTOM - height * fraction), f"{round(top * fraction):,}")
        for fraction in fractions
    ]
    return {
        "bars": bars,
        "ticks": ticks,
        "days": days,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "plot_left": PLOT_LEFT,
        "plot_right": PLOT_RIGHT,
        "label_y": PLOT_BOTTOM + 16,
        "tick_x": PLOT_LEFT - 6,
        "total": sum(d.total for d in days),
        "categories": _categories_in(days),
    }


def _categories_in(days: list[DayMix]) -> list[str]:
    from calls.dashboard.kpis import BAR_ORDER

    seen = {s.category for d in days for s in d.segments}
    return [c for c in BAR_ORDER if c in seen]


# --- calls per code, horizontal bars (task detail) ------------------------------------------

ROW_HEIGHT, CODE_LABEL_WIDTH, CODE_BAR_WIDTH = 22, 130, 420


@dataclass(frozen=True)
class CodeBar:
    row: CodeRow
    y: str
    text_y: str
    width: str
    count_x: str
    css: str


def code_chart(rows: list[CodeRow]) -> dict[str, Any]:
    top = max((r.calls for r in rows), default=0) or 1
    bars = []
    for i, row in enumerate(rows):
        width = CODE_BAR_WIDTH * row.calls / top
        bars.append(
            CodeBar(
                row=row,
                y=_num(i * ROW_HEIGHT + 3),
                text_y=_num(i * ROW_HEIGHT + 16),
                width=_num(width),
                count_x=_num(CODE_LABEL_WIDTH + width + 6),
                css=category_class(row.category),
            )
        )
    return {
        "bars": bars,
        "height": max(len(rows), 1) * ROW_HEIGHT + 4,
        "width": CODE_LABEL_WIDTH + CODE_BAR_WIDTH + 70,
        "label_x": CODE_LABEL_WIDTH - 8,
        "bar_x": CODE_LABEL_WIDTH,
    }


# --- the funnel (task detail) ---------------------------------------------------------------

FUNNEL_CLASSES = {
    "Placed": "cat-placed",
    "Connected": "cat-connected",
    "Live person": "cat-live-person",
    "Right party": "cat-right-party",
    "Promise to pay": "cat-promise-to-pay",
}


def funnel_bar(step: Step) -> SafeString:
    share = step.of_placed.value or 0
    return format_html(
        '<svg class="funnel-bar" viewBox="0 0 100 10" preserveAspectRatio="none" width="240"'
        ' height="14" aria-hidden="true"><rect class="track" x="0" y="0" width="100"'
        ' height="10"></rect><rect class="{}" x="0" y="0" width="{}" height="10"></rect></svg>',
        FUNNEL_CLASSES.get(step.name, "cat-placed"),
        _num(100 * share),
    )
