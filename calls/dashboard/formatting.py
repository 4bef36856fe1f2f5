"""How numbers and times read on the pages and in the tables: dates and times, rates with their
numerator and denominator, talk times as m:ss, spans of time, and the CSS class that colours a
category."""

from __future__ import annotations

from datetime import timedelta

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import slugify

from calls.dashboard.kpis import Rate

# A moment as every page shows it, in Django's date-format letters: ISO order, a 24-hour clock,
# seconds. The admin reads the same through settings.FORMAT_MODULE_PATH (formats/en/formats.py).
DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i:s"
TIME_FORMAT = "H:i:s"
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = "Y-m-d H:i"


def category_class(category: str) -> str:
    """The CSS class that colours a category: "Promise to pay" -> "cat-promise-to-pay"."""
    return "cat-" + slugify(category)


def rate(value: Rate, compact: bool = False, bare: bool = False) -> SafeString:
    """43.2% with its numerator and denominator in the title and beside it in small type
    ("12 / 40 calls placed"; compact: "12 / 40"; bare: the title alone)."""
    if bare:
        return format_html('<span class="rate" title="{}">{}</span>', value.title, value.percent)
    if compact:
        return format_html(
            '<span class="rate" title="{}">{}</span> <small class="nd">{}</small>',
            value.title,
            value.percent,
            value.fraction,
        )
    return format_html(
        '<span class="rate" title="{}">{}</span> <small class="nd">{} {}</small>',
        value.title,
        value.percent,
        value.fraction,
        value.of,
    )


def limit_badges(labels: list[str]) -> SafeString:
    """The contact limits a call broke, as badges ("over 7-day limit"); empty for none."""
    return format_html_join(
        " ",
        '<span class="badge limit-broken" title="{}">{}</span>',
        ((f"This call broke the account's contact limits: {label}", label) for label in labels),
    )


def talk_time(seconds: float | int | None) -> str:
    if seconds is None:
        return "—"
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def ago(delta: timedelta | None) -> str:
    """A span of time in the two largest units: "3 h 12 min", "2 d 4 h", "40 s"."""
    if delta is None:
        return "—"
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s")]
    shown = [f"{n} {unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or "0 s"
