"""The six category flags a conclusion code may carry, listed here once: the Conclusion model's
fields, the Conclusions page's columns, the admin, the summaries and the rates all read them
from FLAGS.

A code falls in the category of its most specific flag; a flag implies the one it names (a
promise means the borrower spoke, which means a person spoke, which means the line connected),
so the funnel placed > connected > live person > right party > promise never widens again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Flag:
    name: str  # the Conclusion field
    category: str  # what a code whose most specific flag this is counts as
    implies: str | None  # the flag a code with this one must carry too
    tally: str  # the dashboard's Kpis field counting calls that carry it
    specificity: int  # categories are tried most specific (lowest) first


# In the funnel's order, which is also the order of the Conclusions page's columns.
FLAGS: tuple[Flag, ...] = (
    Flag("connected", "Connected", None, "connected", 5),
    Flag("live_person", "Live person", "connected", "live_person", 4),
    Flag("right_party", "Right party", "live_person", "right_party", 3),
    Flag("promise_to_pay", "Promise to pay", "right_party", "promises", 0),
    Flag("already_paid", "Already paid", "right_party", "already_paid", 1),
    Flag("complaint", "Complaint risk", "live_person", "complaints", 2),
)
FLAG_NAMES: list[str] = [flag.name for flag in FLAGS]
# Checked most specific first (the Conclusions page names what is missing in this order).
IMPLIES: dict[str, str] = {
    flag.name: flag.implies
    for flag in sorted(FLAGS, key=lambda flag: flag.specificity)
    if flag.implies
}

UNCLASSIFIED = "Unclassified"
NOT_CONNECTED = "Not connected"
# (flag, category), most specific first: the first flag a code carries names its category.
CATEGORIES: list[tuple[str, str]] = [
    (flag.name, flag.category) for flag in sorted(FLAGS, key=lambda flag: flag.specificity)
]
CATEGORY_ORDER: list[str] = [name for _, name in CATEGORIES] + [NOT_CONNECTED, UNCLASSIFIED]

# The summaries' code for calls that ended without one. Not a code Blu's robots use (theirs are
# letters and digits), so it cannot be mistaken for one; no Conclusion gives it flags.
NO_CODE = "(no code)"
NO_CODE_LABEL = "Ended without a code"


def category(conclusion: Any) -> str:
    """The most specific thing a conclusion says about a call: how filters and charts group
    codes."""
    if not conclusion.classified:
        return UNCLASSIFIED
    for flag, name in CATEGORIES:
        if getattr(conclusion, flag):
            return name
    return NOT_CONNECTED


def classified(code: str, conclusions: Mapping[str, Any]) -> Any:
    """The code's conclusion if someone has classified it; None for unknown or unclassified codes
    and for calls that ended without a code."""
    if code == NO_CODE:
        return None
    conclusion = conclusions.get(code)
    return conclusion if conclusion is not None and conclusion.classified else None
