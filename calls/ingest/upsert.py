"""Writing call records in bulk: one INSERT ... ON CONFLICT (account, callId) DO UPDATE per page.

Written by hand rather than with bulk_create(update_conflicts=True): Django spent 0.4 ms (SQLite)
to 0.6 ms (PostgreSQL) a row preparing values and model instances, more than Blu takes to send
the row, so the sync could not hide its writes behind the download (bench/README.md). Here values
go to the driver as they are: PostgreSQL receives the page through COPY into a temporary table
and upserts from it; SQLite runs the statement once per row through executemany, in C.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, cast

from django.db import connection
from django.db.models import Field, QuerySet
from django.db.models.expressions import RawSQL

from calls.models import Borrower, CallRecord, Promise

# In column order; account, task, call_id and first_seen_at are written once, never updated: a
# call stays on the task Blu first reported it under.
FIELDS = [
    "account",
    "task",
    "call_id",
    "job_id",
    "user_id",
    "phone",
    "name",
    "status",
    "code",
    "desc",
    "strategy_id",
    "bot_id",
    "start_time",
    "answer_time",
    "end_time",
    "duration",
    "record_url",
    "ext_vars",
    "ext_vars_raw",
    "script",
    "slots",
    "raw",
    "content_hash",
    "problems",
    "first_seen_at",
    "last_changed_at",
    # Who the call was to, found before the write (borrowers.assign): written with the row, not
    # by a second UPDATE of every new call (a page's second write of 500 rows and 11 indexes).
    "borrower",
]
_KEEP = {"account", "task", "call_id", "first_seen_at"}
_JSON = {"ext_vars", "script", "slots", "problems"}
_TIMES = {"start_time", "answer_time", "end_time", "first_seen_at", "last_changed_at"}

_meta = CallRecord._meta
_TABLE: str = _meta.db_table
_MODEL_FIELDS = [cast(Field, _meta.get_field(name)) for name in FIELDS]
_ATTNAMES: list[str] = [f.attname for f in _MODEL_FIELDS]  # account_id, task_id, ...
# The table's column names in FIELDS order (bench/pages.py COPYs its seed in this order too).
COLUMNS: list[str] = [cast(str, f.column) for f in _MODEL_FIELDS]


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return "[]" if value == [] else json.dumps(value, ensure_ascii=False)


def _sqlite_time(value: datetime | None) -> str | None:
    # What Django's SQLite backend stores: naive UTC, "YYYY-MM-DD HH:MM:SS[.ffffff]".
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def _plan(for_sqlite: bool) -> tuple[Callable[[dict[str, Any]], tuple], list[tuple[int, Any]]]:
    """What makes a row of field values: the getter of every column's value in column order,
    and the conversions, by column index, of the values that need one."""
    keys: list[str] = []
    conversions: list[tuple[int, Any]] = []
    for index, (name, attname) in enumerate(zip(FIELDS, _ATTNAMES, strict=True)):
        if name == "raw":
            # The canonical text the content hash was made from: no second serialisation.
            keys.append("raw_json")
            continue
        keys.append(name if name in _JSON or (name in _TIMES and for_sqlite) else attname)
        if name in _JSON:
            conversions.append((index, _json))
        elif name in _TIMES and for_sqlite:
            conversions.append((index, _sqlite_time))
    return itemgetter(*keys), conversions


_PLANS = {True: _plan(for_sqlite=True), False: _plan(for_sqlite=False)}


def _rows(records: Iterable[dict[str, Any]], for_sqlite: bool) -> list[list[Any]]:
    values, conversions = _PLANS[for_sqlite]
    rows = []
    for fields in records:
        row = list(values(fields))
        for index, convert in conversions:
            row[index] = convert(row[index])
        rows.append(row)
    return rows


def _sql(source: str) -> str:
    quote = connection.ops.quote_name
    table = quote(_TABLE)
    columns = ", ".join(quote(c) for c in COLUMNS)
    updates = ", ".join(
        f"{quote(column)} = excluded.{quote(column)}"
        for name, column in zip(FIELDS, COLUMNS, strict=True)
        if name not in _KEEP
    )
    key = f"{quote(COLUMNS[0])}, {quote(COLUMNS[2])}"  # account_id, call_id
    digest, end, code = (
        quote(COLUMNS[FIELDS.index(n)]) for n in ("content_hash", "end_time", "code")
    )

    def final(row: str) -> str:
        return f"({row}.{end} IS NOT NULL OR {row}.{code} <> '')"

    # The caller's checks ran before its insert: two writers that both found no row (a callback
    # delivered twice at once, a callback racing a page) meet here. The second changes nothing if
    # it brings the same record, and an in-progress record never replaces a final one.
    return (
        f"INSERT INTO {table} ({columns}) {source} ON CONFLICT ({key}) DO UPDATE SET {updates} "
        f"WHERE {table}.{digest} <> excluded.{digest} "
        f"AND NOT ({final(table)} AND NOT {final('excluded')})"
    )


def upsert_calls(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert or update call records given as field values (with account_id, task_id,
    borrower_id and raw_json); returns the ids of the calls written, by callId.

    Must run inside a transaction, all rows of one account; the caller has removed duplicate
    callIds.
    """
    if not rows:
        return {}
    if connection.vendor == "postgresql":
        return _upsert_postgresql(_rows(rows, for_sqlite=False))
    if connection.vendor == "sqlite":
        _upsert_sqlite(_rows(rows, for_sqlite=True))
        # SQLite's executemany returns no rows: read the ids by the unique index instead.
        return dict(
            stored_calls(rows[0]["account_id"], [row["call_id"] for row in rows]).values_list(
                "call_id", "pk"
            )
        )
    raise NotImplementedError(f"no call upsert for {connection.vendor}")  # pragma: no cover


def _upsert_sqlite(rows: list[list[Any]]) -> None:
    placeholders = ", ".join(["%s"] * len(FIELDS))
    with connection.cursor() as cursor:
        cursor.executemany(_sql(f"VALUES ({placeholders})"), rows)


# A callback brings at most ten records (callbacks.MAX_RECORDS), often one: for so few, COPY's
# temporary table (created and dropped again: catalog rows written and removed, four statements)
# costs more than binding the values in one INSERT.
FEW_ROWS = 10


def _upsert_postgresql(rows: list[list[Any]]) -> dict[str, int]:
    # Every row the caller looked at under the account's write turn is written; one the
    # statement's WHERE kept (a racing duplicate) returns nothing, and follows as unwritten.
    quote = connection.ops.quote_name
    returning = f" RETURNING {quote(cast(str, cast(Field, _meta.pk).column))}, {quote(COLUMNS[2])}"
    if len(rows) <= FEW_ROWS:
        # Ordered by (account_id, call_id), as the COPY path's ORDER BY: row locks in key order.
        rows = sorted(rows, key=lambda row: (row[0], row[2]))
        placeholders = "(" + ", ".join(["%s"] * len(FIELDS)) + ")"
        with connection.cursor() as cursor:
            cursor.execute(
                _sql("VALUES " + ", ".join([placeholders] * len(rows))) + returning,
                [value for row in rows for value in row],
            )
            return {call_id: pk for pk, call_id in cursor.fetchall()}
    columns = ", ".join(quote(c) for c in COLUMNS)
    with connection.cursor() as cursor:
        # Made once a connection and emptied after each page: creating and dropping it for every
        # page cost a few ms of catalog writes. A rolled-back first page takes the table with
        # it, so the next page makes it again (IF NOT EXISTS); a rolled-back later page takes
        # its rows with it, so the table is empty whenever a page begins.
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS bludash_call_page AS "
            f"SELECT {columns} FROM {quote(_TABLE)} WITH NO DATA"
        )
        # COPY dumps values in C; Django's default client-side binding would quote every
        # string and JSON document in Python.
        with cursor.cursor.copy(f"COPY bludash_call_page ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        # ORDER BY takes the row locks in key order, so two writers cannot deadlock.
        cursor.execute(_sql(f"SELECT {columns} FROM bludash_call_page ORDER BY 1, 3") + returning)
        written = {call_id: pk for pk, call_id in cursor.fetchall()}
        # Emptied now, not at commit: a caller's transaction may hold several pages.
        cursor.execute("TRUNCATE bludash_call_page")
    return written


def stored_calls(account_pk: int, call_ids: list[str]) -> QuerySet[CallRecord]:
    """The account's stored calls among `call_ids`, each found by a probe of the (account,
    callId) unique index, whatever the planner's statistics say.

    On PostgreSQL, a table that grew since its last ANALYZE (autovacuum off, a first large sync)
    has the planner take `account_id = ... AND call_id IN (...)` through the account's own index
    and filter every call of the account: 180 ms a page of 500 at 100,000 calls, against 2 ms
    for the probes. A lateral join with LIMIT 1 leaves it only the unique index.

    Unordered: with CallRecord's default ordering (newest first) SQLite walks every call of the
    account through call_account_start_idx to save a sort, 35 ms a page at 20,000 calls and
    growing with them, instead of searching the unique index.
    """
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        pk_column = cast(str, cast(Field, _meta.pk).column)
        account, call_id, pk = (quote(c) for c in (COLUMNS[0], COLUMNS[2], pk_column))
        probes = RawSQL(  # noqa: S611 (the model's own names; values are bound)
            f"SELECT found.{pk} FROM unnest(%s::text[]) AS wanted(call_id) CROSS JOIN LATERAL "
            f"(SELECT {pk} FROM {quote(_TABLE)} WHERE {account} = %s "
            f"AND {call_id} = wanted.call_id LIMIT 1) AS found",
            [list(call_ids), account_pk],
        )
        return CallRecord.objects.filter(pk__in=probes).order_by()
    # One parameter, not one per callId: Django prepares each of 500 values of an IN list in
    # Python, which cost more than SQLite's search of its index for them.
    wanted = RawSQL(
        "SELECT value FROM json_each(%s)", [json.dumps(list(call_ids), ensure_ascii=False)]
    )
    return CallRecord.objects.filter(account_id=account_pk, call_id__in=wanted).order_by()


# The tables a page of new calls grows, each looked up by the page's keys: the calls (by callId),
# their borrowers (by key and by id: the recount's `id IN (...)` of 500 borrowers was a scan of
# every borrower, 1.1 s a page at 20,000 calls, 91 ms with statistics) and their promises.
_GROWN_TABLES = [CallRecord._meta.db_table, Borrower._meta.db_table, Promise._meta.db_table]
# A fifth more calls than the planner knows of: autovacuum's own rule (a tenth, checked every
# minute), taken eagerly by the sync that does the growing.
STALE_FRACTION = 0.2


def refresh_statistics() -> None:
    """ANALYZE the tables a sync grows, so each page's lookups keep using their indexes while a
    first load grows them from nothing (measured: 225 ms a page without, 17 ms with, for the
    calls' lookup alone)."""
    with connection.cursor() as cursor:
        for table in _GROWN_TABLES:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


def statistics_behind(new_calls: int) -> bool:
    """Whether `new_calls` written since the statistics were last refreshed are more than a fifth
    of the calls PostgreSQL's planner knows of (none before a first ANALYZE). On a large table a
    sync's pages then cost it nothing; on one growing from nothing, the refreshes come at each
    fifth of growth, a few in all. SQLite's planner needs no such help: never."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [CallRecord._meta.db_table]
        )
        row = cursor.fetchone()
    known = max(0.0, float(row[0])) if row else 0.0  # -1: never analyzed
    return new_calls > STALE_FRACTION * known
