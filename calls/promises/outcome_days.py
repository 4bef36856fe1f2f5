"""PromiseOutcomeDay: the account's promises counted by the day their window ends (company time
zone) and their outcome so far, so the overview's kept rates sum a few rows a day instead of
counting the month's promises (some 700,000 at 10,000,000 calls).

Kept by applying changes, as the accounts' day rows are (calls/ingest/summaries.py): each write
of promises (ledger.follow_calls makes, moves and removes them, ledger.settle changes their
outcomes) takes each promise's old (day, outcome) out and puts its new one in, in the writer's
transaction and under the account's write turn. The windows passing change no row: whether an
open promise is broken depends on the time only, so the rates cut by the time when read.
recount() counts them afresh from the promises: the rebuild of the promises ends with it, and
the tests prove the applied counts equal it after every path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime

from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from calls.models import Promise, PromiseOutcomeDay

# (account pk, day the window ends, outcome)
Key = tuple[int, date, str]


def day_of(window_end: datetime) -> date:
    """The day a window ends on, in the company's time zone (the calendar the overview uses)."""
    return timezone.localtime(window_end, timezone.get_default_timezone()).date()


def key_of(account_id: int, window_end: datetime, outcome: str) -> Key:
    return (account_id, day_of(window_end), outcome)


def apply(changes: Mapping[Key, int]) -> None:
    """Add each key's change to its stored count; rows left at no promise are deleted. As in
    summaries._apply_to_account_days, adding is one upsert and taking away one UPDATE each (a
    negative value in an upsert breaks the column's CHECK even when it ends as an update)."""
    adding = [(key, n) for key, n in changes.items() if n > 0]
    taking = [(key, n) for key, n in changes.items() if n < 0]
    if not adding and not taking:
        return
    adapt = connection.ops.adapt_datefield_value
    # Only the table's name and placeholders are formatted into the SQL (hence the noqa: S608s).
    table = connection.ops.quote_name(PromiseOutcomeDay._meta.db_table)
    with connection.cursor() as cursor:
        if adding:
            cursor.execute(
                f"INSERT INTO {table} (account_id, day, outcome, promises) "  # noqa: S608
                f"VALUES {', '.join(['(%s, %s, %s, %s)'] * len(adding))} "
                f"ON CONFLICT (account_id, day, outcome) DO UPDATE SET "
                f"promises = {table}.promises + excluded.promises",
                [
                    v
                    for (account, day, outcome), n in adding
                    for v in (account, adapt(day), outcome, n)
                ],
            )
        if taking:
            # Below zero only where the counts were wrong already: 0, and recount() mends them.
            cursor.executemany(
                f"UPDATE {table} SET promises = CASE WHEN promises + %s < 0 THEN 0 "  # noqa: S608
                "ELSE promises + %s END WHERE account_id = %s AND day = %s AND outcome = %s",
                [(n, n, account, adapt(day), outcome) for (account, day, outcome), n in taking],
            )
    if taking:
        # Any row at 0 is one emptied now (or a stray one): one DELETE for all.
        PromiseOutcomeDay.objects.filter(
            promises=0,
            account_id__in={key[0] for key, _ in taking},
            day__in={key[1] for key, _ in taking},
        ).delete()


def counted(account_pk: int | None = None) -> Counter[Key]:
    """The counts worked out from the promises themselves (one grouped query)."""
    promises = (
        Promise.objects.all()
        if account_pk is None
        else Promise.objects.filter(account_id=account_pk)
    )
    grouped = (
        promises.annotate(day=TruncDate("window_end", tzinfo=timezone.get_default_timezone()))
        .order_by()
        .values_list("account_id", "day", "outcome")
        .annotate(n=Count("pk"))
    )
    return Counter({(account, day, outcome): n for account, day, outcome, n in grouped})


def stored(account_pk: int | None = None) -> Counter[Key]:
    rows = PromiseOutcomeDay.objects.all()
    if account_pk is not None:
        rows = rows.filter(account_id=account_pk)
    return Counter(
        {
            (account, day, outcome): n
            for account, day, outcome, n in rows.values_list(
                "account_id", "day", "outcome", "promises"
            )
            if n
        }
    )


def recount(account_pk: int | None = None) -> None:
    """The rows made again from the promises (all accounts' when none is given): the end of a
    rebuild, and the mend after the company's time zone changed. In the caller's transaction,
    under the account's write turn."""
    rows = PromiseOutcomeDay.objects.all()
    if account_pk is not None:
        rows = rows.filter(account_id=account_pk)
    rows.delete()
    PromiseOutcomeDay.objects.bulk_create(
        [
            PromiseOutcomeDay(account_id=account, day=day, outcome=outcome, promises=n)
            for (account, day, outcome), n in counted(account_pk).items()
        ],
        batch_size=1000,
    )


def by_day(first: date, last: date) -> dict[date, Counter[str]]:
    """Every account's promises per day from first to last, by outcome (one grouped query)."""
    days: dict[date, Counter[str]] = {}
    for day, outcome, n in (
        PromiseOutcomeDay.objects.filter(day__gte=first, day__lte=last)
        .order_by()
        .values_list("day", "outcome")
        .annotate(n=Sum("promises"))
    ):
        days.setdefault(day, Counter())[outcome] += n or 0
    return days
