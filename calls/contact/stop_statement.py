"""The pre-dial check's question (stop_list.first_reason: every reason's rows for one person, in
one UNION ALL) as SQL built once per process and run with each check's borrowers and time.

Building the statement from REASONS is most of what the ORM costs: about 10 ms of CPU a check
against 0.05 ms for the database to answer it (bench/predial.py). So it is built twice per
number of borrowers, with made-up borrower ids and times, and the two compared: the same text,
and parameters that differ only where a made-up id or the time (or a fixed interval from it,
as "calls since 7 days ago") went in. Those are filled in for each check, the rest kept. A
reason whose statement cannot be read that way (a time not relative to now, a value written
into the text) gets no kept statement: the ORM's is built for each check, as before.

What the statement reads from tables as it is built (each account's contact limits), and the
settings, are kept with it: it is built again when an account or its limits are saved in this
process, when a setting changes (tests), or KEEP_SECONDS after it was built, so another web
process's change to the limits applies here that much later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.signals import setting_changed
from django.db import connections
from django.db.models.signals import post_delete, post_save

from calls.contact import stop_list
from calls.models import BluAccount, ContactLimits

KEEP_SECONDS = 10.0
# Built with these: no real id is negative, and no real call in 2001 or 2002 matters here. The
# two times differ in time of day, weekday and daylight saving, so a time cut to a day or an
# hour (in any zone) is not mistaken for a fixed offset from now.
_NOWS = (
    datetime(2001, 1, 1, tzinfo=UTC),
    datetime(2002, 7, 17, 13, 37, 29, 123457, tzinfo=UTC),
)
_IDS = (-(10**15), -(2 * 10**15))


@dataclass(frozen=True)
class Statement:
    sql: str
    db: str
    # Each parameter: ("value", v) kept, ("borrower", i) the i-th borrower id, ("now", offset).
    slots: tuple[tuple[str, Any], ...]

    def params(self, borrower_pks: list[int], now: datetime) -> list[Any]:
        filled = []
        for kind, value in self.slots:
            if kind == "borrower":
                filled.append(borrower_pks[value])
            elif kind == "now":
                filled.append(now + value)
            else:
                filled.append(value)
        return filled


def _made_up(which: int, count: int) -> list[int]:
    return [_IDS[which] - i for i in range(count)]


def _compiled(which: int, count: int) -> tuple[str, str, list[Any]] | None:
    union = stop_list.tagged_rows(_made_up(which, count), _NOWS[which])
    if union is None:
        return None
    sql, params = union.query.get_compiler(using=union.db).as_sql()
    return sql, union.db, list(params)


def _slot(first: Any, second: Any, count: int) -> tuple[str, Any] | None:
    ids = (_made_up(0, count), _made_up(1, count))
    if isinstance(first, int) and first in ids[0]:
        index = ids[0].index(first)
        return ("borrower", index) if second == ids[1][index] else None
    if isinstance(first, datetime) and isinstance(second, datetime):
        offset = first - _NOWS[0]
        return ("now", offset) if second - _NOWS[1] == offset else None
    return ("value", first) if first == second else None


def build(count: int) -> Statement | None:
    """The statement for `count` borrowers, or None when it cannot be kept (or asks nothing)."""
    first, second = _compiled(0, count), _compiled(1, count)
    if first is None or second is None or first[:2] != second[:2]:
        return None
    if len(first[2]) != len(second[2]):
        return None
    slots = []
    for one, other in zip(first[2], second[2], strict=True):
        slot = _slot(one, other, count)
        if slot is None:
            return None
        slots.append(slot)
    return Statement(first[0], first[1], tuple(slots))


class _Kept:
    lock = threading.Lock()
    # number of borrowers -> (when built, REASONS then, the statement or None)
    statements: dict[int, tuple[float, list, Statement | None]] = {}


def forget(**kwargs: Any) -> None:
    with _Kept.lock:
        _Kept.statements = {}


for _model in (BluAccount, ContactLimits):
    post_save.connect(forget, sender=_model, dispatch_uid=f"stop_statement_saved_{_model.__name__}")
    post_delete.connect(
        forget, sender=_model, dispatch_uid=f"stop_statement_deleted_{_model.__name__}"
    )
setting_changed.connect(forget, dispatch_uid="stop_statement_setting_changed")


def statement(count: int) -> Statement | None:
    now = time.monotonic()
    reasons = stop_list.REASONS
    kept = _Kept.statements.get(count)
    # A list put in REASONS' place (a test's) is asked anew.
    if kept is not None and now - kept[0] < KEEP_SECONDS and kept[1] is reasons:
        return kept[2]
    built = build(count)
    with _Kept.lock:
        _Kept.statements[count] = (now, reasons, built)
    return built


def first_reason(
    borrower_pks: Collection[int], now: datetime
) -> tuple[stop_list.Reason, int] | None:
    """stop_list.first_reason, from the kept statement when there is one."""
    pks = list(borrower_pks)
    kept = statement(len(pks))
    if kept is None:
        return stop_list.first_reason(pks, now)
    with connections[kept.db].cursor() as cursor:
        cursor.execute(kept.sql, kept.params(pks, now))
        return stop_list.first_of(cursor.fetchall())
