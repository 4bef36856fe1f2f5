"""The window of a promise: the call's payment-time slot read in the account's time zone, or
the default window (BLUDASH_PROMISE_DEFAULT_DAYS from the call) when no clear time was said.

Blu's "slots and scripts" variant names its fields nowhere public; the robot's payment time is
a `[start, end]` pair of local times `YYYY-MM-DD HH:MM:SS` (blu-api.md, "Payment-time slot")
under one of PAYMENT_TIME_KEYS, or null when none was said (HPTP).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

_THOUSANDS = re.compile(r"[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?")
PAYMENT_TIME_KEYS = ("paymentTime", "payment_time", "payTime", "ptpTime")
_FORMAT = "%Y-%m-%d %H:%M:%S"
# A slot outside these years is no time anybody promised: read as none (the default window).
# Without a bound, year 1 or 9999 overflowed the window's grace or PostgreSQL's timestamps and
# failed the whole write, losing every call of the page or callback.
PLAUSIBLE_YEARS = range(2000, 2200)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    clear_time: bool


def slot_window(slots: Any, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The payment-time slot as aware times, or None when there is none or it is unreadable
    (a start after its end included)."""
    if not isinstance(slots, dict):
        return None
    pair = next((slots[key] for key in PAYMENT_TIME_KEYS if slots.get(key) is not None), None)
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        return None
    try:
        start, end = (datetime.strptime(str(each).strip(), _FORMAT) for each in pair)
    except ValueError:
        return None
    if start > end or start.year not in PLAUSIBLE_YEARS or end.year not in PLAUSIBLE_YEARS:
        return None
    # A local time that a clock change skipped or repeated: zoneinfo's fold=0 reading.
    return start.replace(tzinfo=zone), end.replace(tzinfo=zone)


def window(made_at: datetime, slots: Any, zone: ZoneInfo) -> Window:
    found = slot_window(slots, zone)
    if found:
        return Window(found[0], found[1], True)
    days = timedelta(days=settings.BLUDASH_PROMISE_DEFAULT_DAYS)
    # Days on the account's clock: across a change of the clocks "3 days" is not 72 hours
    # (adding to a zoneinfo time moves its wall clock and finds the offset anew).
    end = (made_at.astimezone(zone) + days).astimezone(made_at.tzinfo)
    return Window(made_at, end, False)


def expected_amount(ext_vars: Any) -> Decimal | None:
    """What the borrower owes, from the extVars key BLUDASH_PROMISE_AMOUNT_KEY; None when the
    setting is empty or the value is no positive amount."""
    key = settings.BLUDASH_PROMISE_AMOUNT_KEY
    if not key or not isinstance(ext_vars, dict):
        return None
    value = ext_vars.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    text = str(value).strip()
    # Commas only as thousands groups ("1,000.50"): "1500,50" is a decimal comma, which read as
    # a separator would make the amount owed 100 times larger; unknown is safer.
    if "," in text and not _THOUSANDS.fullmatch(text):
        return None
    try:
        amount = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0 or amount >= Decimal("1e12"):
        return None
    return amount.quantize(Decimal("0.01"))
