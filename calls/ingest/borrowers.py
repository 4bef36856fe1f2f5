"""Who each call was to: the borrower named by the call's extVars, kept current by every write
of calls (a sync's page, a callback, a re-read) and by the one-time backfill.

A borrower is one account's (account, key): the first of the account's extVars keys present on
the call (BluAccount.borrower_key_list), else Blu's userId, kept apart by a prefix since Blu's
upload-row ids are not the lender's borrower ids. Phones are masked by Blu and never a key.

The one-time link of calls stored before borrowers existed is calls/ingest/borrower_backfill.py.

Set-based per page: one look-up of the page's borrowers (an INSERT only of those not seen
before), one UPDATE linking its calls, their borrowers row-locked in key order, one UPDATE
recounting the borrowers it touched (and those its calls left) from the calls' (borrower, start)
index. A recount of a few borrowers' calls, not an applied delta: a re-read that moves a start
time or a key, or a call replayed, leaves nothing to drift, and no borrower is rebuilt from all
calls.

"Calls in 7 days" moves as time passes, with no write: the pages count it at read from the
index; the list sorts by Borrower.calls_7d, recounted by a write and again by refresh_expired()
once its oldest counted call leaves the window (calls_7d_until).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    Field,
    IntegerField,
    Model,
    OuterRef,
    Subquery,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Left, Lower
from django.utils import timezone

from calls.contact import complaints
from calls.ingest import upsert
from calls.limits import breaches
from calls.models import BluAccount, Borrower, CallRecord, one_of
from calls.promises import ledger

WINDOW = timedelta(days=7)
KEY_CHARS = Borrower._meta.get_field("key").max_length or 200
# A key is a URL path segment on the pages: a control character (a newline) has no URL there.
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def key_text(value: Any) -> str:
    """An extVars value as a key: text or a whole number; '' for anything else (null, true,
    an object, a string too long to be an id, text with a control character, or text that
    begins like Blu's userId fallback, which would make the lender's borrower and Blu's upload
    row one)."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, str):
        text = value.strip()
    else:
        return ""
    if len(text) > KEY_CHARS - len(Borrower.USER_ID_PREFIX) or CONTROL_CHARS.search(text):
        return ""
    return "" if text.startswith(Borrower.USER_ID_PREFIX) else text


def borrower_key(ext_vars: Any, user_id: str, key_names: list[str]) -> tuple[str, str] | None:
    """(key, where it came from) for a call, or None when it names nobody."""
    if isinstance(ext_vars, dict):
        for name in key_names:
            if text := key_text(ext_vars.get(name)):
                return text, name
    user_id = (user_id or "").strip()
    if user_id and not CONTROL_CHARS.search(user_id):
        return Borrower.USER_ID_PREFIX + user_id, Borrower.USER_ID
    return None


# What the promises, complaints and contact-limit flags read of a call; a writer's rows that
# carry them (a page's, a callback's) are followed as they are, not read again.
FOLLOWED = ("task_id", "code", "slots", "ext_vars", "start_time", "answer_time", "first_seen_at")


def link_calls(
    account: BluAccount,
    rows: Iterable[Mapping[str, Any]],
    *,
    key_names: list[str] | None = None,
) -> set[int]:
    """Link the account's stored calls given as field values (call_id, ext_vars, user_id) to
    their borrowers, adding borrowers not seen before, recount every borrower touched and make or
    settle the calls' promises (calls/promises/ledger.py) and flag the calls that broke a contact
    limit (calls/limits/breaches.py). Runs in the caller's transaction, under the account's write
    turn: the backfill's and a re-read's way (a writer of new calls links them before writing
    them: assign() and follow()). `key_names` are the account's borrower keys as
    lock_account_writes returned them; without them they are read from the database now (never
    from `account`, which may be older than an admin's change). Rows that carry every FOLLOWED
    field as stored are followed from memory; others are read again. Returns the borrowers
    touched."""
    if key_names is None:
        key_names = BluAccount.objects.get(pk=account.pk).borrower_key_list()
    given = {row["call_id"]: row for row in rows}  # a later duplicate wins, as in keyed
    keyed = {
        call_id: borrower_key(row["ext_vars"], row["user_id"], key_names)
        for call_id, row in given.items()
    }
    if not keyed:
        return set()
    # The calls' ids, and their borrowers before: a re-read or a corrected record may take a
    # call from one borrower to another.
    stored = {
        call_id: (pk, borrower_pk)
        for call_id, pk, borrower_pk in upsert.stored_calls(account.pk, list(keyed)).values_list(
            "call_id", "pk", "borrower_id"
        )
    }
    before = {borrower_pk for _pk, borrower_pk in stored.values() if borrower_pk is not None}
    sources = dict(found for found in keyed.values() if found)
    ids, _complete = _borrower_ids(account.pk, sources)
    linked = {call_id: ids[found[0]] if found else None for call_id, found in keyed.items()}
    _set_borrowers(
        [
            (pk, linked[call_id])
            for call_id, (pk, borrower_pk) in sorted(stored.items())
            if borrower_pk != linked[call_id]
        ]
    )
    links = Links(touched=before | set(ids.values()))
    calls = None
    if all(name in row for row in given.values() for name in FOLLOWED):
        calls = [
            {
                **{name: given[call_id][name] for name in FOLLOWED},
                "pk": pk,
                "borrower_id": linked[call_id],
            }
            for call_id, (pk, _before) in stored.items()
        ]
    _follow(account, list(keyed), links, calls)
    return links.touched


@dataclass
class Links:
    """What assign() did: the borrowers a write touches (those its calls go to and leave), and
    those it added with their figures complete from the calls written (no recount needed)."""

    touched: set[int]
    complete: set[int] = field(default_factory=set)
    new_calls: set[int] = field(default_factory=set)  # ids of calls the write inserted


def assign(
    account: BluAccount,
    rows: list[dict[str, Any]],
    *,
    key_names: list[str],
    before: Mapping[str, int | None],
    now: datetime,
) -> Links:
    """Set each row's borrower_id before the rows are written (so the calls' upsert writes it
    with them), adding borrowers not seen before. `before`: the borrower each stored call had,
    by callId. A borrower added here whose calls are all in `rows` is added with its figures
    (what recount() and the last right-party call would make of them) on PostgreSQL, so the
    write recounts only the borrowers it found. Runs under the account's write turn, so no
    other writer can add calls to a borrower added here before this transaction commits."""
    keyed = {
        row["call_id"]: borrower_key(row["ext_vars"], row["user_id"], key_names) for row in rows
    }
    sources = dict(found for found in keyed.values() if found)
    figures = None
    if connection.vendor == "postgresql":
        figures = _figures(rows, keyed, now)
    ids, complete = _borrower_ids(account.pk, sources, figures)
    for row in rows:
        found = keyed[row["call_id"]]
        row["borrower_id"] = ids[found[0]] if found else None
    moved_from = {pk for pk in before.values() if pk is not None}
    return Links(touched=moved_from | set(ids.values()), complete=complete)


def follow(
    account: BluAccount, rows: list[dict[str, Any]], links: Links, pks: Mapping[str, int]
) -> None:
    """After the calls assign() linked are written (`pks`: their ids by callId): recount the
    borrowers it found, and follow the calls' promises, complaints and contact-limit flags."""
    calls = [
        {
            **{name: row[name] for name in FOLLOWED},
            "pk": pks[row["call_id"]],
            "borrower_id": row["borrower_id"],
        }
        for row in rows
    ]
    _follow(account, [row["call_id"] for row in rows], links, calls)


def _follow(
    account: BluAccount,
    call_ids: list[str],
    links: Links,
    calls: list[dict[str, Any]] | None,
) -> None:
    # In key order, as refresh_expired() takes them: a recount beside a refresh cannot deadlock.
    # Those added by this transaction are seen by nobody else yet: nothing to lock or recount.
    found = sorted(links.touched - links.complete)
    list(
        Borrower.objects.select_for_update()
        .filter(pk__in=one_of(found))
        .order_by("pk")
        .values_list("pk")
    )
    recount(found)
    # The calls' promises follow their borrower, code and payment-time slot.
    ledger.follow_calls(account, call_ids, calls=calls, new_calls=links.new_calls)
    # And their complaints, which put the borrower on the stop list until someone resolves them.
    complaints.follow_calls(account, call_ids, calls=calls, new_calls=links.new_calls)
    # So do the flags of the calls that broke a contact limit, theirs and their later calls'.
    breaches.follow_calls(
        account,
        call_ids,
        links.touched,
        calls=calls,
        new_calls=links.new_calls,
        counted=links.complete,
    )


@dataclass(frozen=True)
class Figures:
    """A new borrower's figures from its calls: the newest call's name, phone and extVars, the
    first and last start, the starts in the last 7 days (how many, and the oldest), the newest
    right-party start (filled in by _borrower_ids), and whether they are complete: the newest
    call is certain (one call, or distinct start times; recount() breaks ties by call id,
    which a new call has none of yet)."""

    name: str | None
    phone: str | None
    ext_vars: Any
    first: datetime | None
    last: datetime | None
    recent: int
    oldest_recent: datetime | None
    starts: tuple[tuple[datetime, str], ...]  # (start, code) of the dated calls
    certain: bool


def _figures(
    rows: list[dict[str, Any]], keyed: Mapping[str, tuple[str, str] | None], now: datetime
) -> dict[str, Figures]:
    by_key: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if found := keyed[row["call_id"]]:
            by_key.setdefault(found[0], []).append(row)
    since = now - WINDOW
    figures = {}
    for key, calls in by_key.items():
        dated = sorted((row["start_time"], row["code"]) for row in calls if row["start_time"])
        starts = [start for start, _code in dated]
        certain = len(calls) == 1 or (len(dated) == len(calls) and len(set(starts)) == len(starts))
        newest = max(
            calls, key=lambda row: (row["start_time"] is not None, row["start_time"] or now)
        )
        recent = [start for start in starts if since <= start <= now]
        figures[key] = Figures(
            name=newest["name"],
            phone=newest["phone"],
            ext_vars=newest["ext_vars"],
            first=starts[0] if starts else None,
            last=starts[-1] if starts else None,
            recent=len(recent),
            oldest_recent=recent[0] if recent else None,
            starts=tuple(dated),
            certain=certain,
        )
    return figures


def _borrower_ids(
    account_pk: int, sources: dict[str, str], figures: Mapping[str, Figures] | None = None
) -> tuple[dict[str, int], set[int]]:
    """The ids of the account's borrowers by key (key: key_source), adding those not there yet
    with one INSERT ... ON CONFLICT DO NOTHING ... RETURNING, with their `figures` when given;
    and the ids of those added with figures complete. A borrower already there is written only
    when its key now comes from another extVars key, so a page of known borrowers rewrites (and
    row-locks) none of them here."""
    if not sources:
        return {}, set()
    known = {
        key: (pk, source)
        for key, pk, source in Borrower.objects.filter(
            account_id=account_pk, key__in=one_of(sorted(sources))
        ).values_list("key", "pk", "key_source")
    }
    missing = sorted(key for key in sources if key not in known)
    complete: set[int] = set()
    if missing:
        added = _add_borrowers(account_pk, [(key, sources[key]) for key in missing], figures)
        known.update(added)
        if figures is not None:
            complete = {pk for key, (pk, _source) in added.items() if figures[key].certain}
    if lost := [key for key in missing if key not in known]:
        # Added by a writer that committed after this statement began (none can under the
        # account's write turn, but ON CONFLICT DO NOTHING returns nothing of theirs).
        known.update(
            (key, (pk, source))
            for key, pk, source in Borrower.objects.filter(
                account_id=account_pk, key__in=one_of(lost)
            ).values_list("key", "pk", "key_source")
        )
    moved = [
        Borrower(pk=pk, key_source=sources[key])
        for key, (pk, source) in sorted(known.items())
        if source != sources[key]
    ]
    if moved:
        Borrower.objects.bulk_update(moved, ["key_source"])
    return {key: pk for key, (pk, _source) in known.items()}, complete


# What _add_borrowers writes of a new borrower's figures on PostgreSQL, as recount() makes them
# (cut to SHOWN_CHARS, the orderId from the newest call's extVars, lower-cased by the server).
_FIGURE_COLUMNS = (
    "name",
    "search_name",
    "phone",
    "order_id",
    "first_call_at",
    "last_call_at",
    "calls_7d",
    "calls_7d_until",
    "last_right_party_at",
)


def _add_borrowers(
    account_pk: int,
    keys: list[tuple[str, str]],
    figures: Mapping[str, Figures] | None = None,
) -> dict[str, tuple[int, str]]:
    """Insert borrowers (key, key_source) in key order, in one statement, with their figures
    when given (PostgreSQL), every other column at its default; returns those inserted. Django's
    bulk_create prepared every value of 500 model instances in Python, more than the rest of a
    page's borrowers cost."""
    quote = connection.ops.quote_name
    meta = Borrower._meta
    given = ("account", "key", "key_source", *(_FIGURE_COLUMNS if figures is not None else ()))
    rest = [f for f in meta.concrete_fields if not f.primary_key and f.name not in given]
    account_col, key_col, source_col, pk_col = (
        quote(_column(Borrower, name)) for name in ("account", "key", "key_source", "id")
    )
    columns = [quote(_column(Borrower, name)) for name in given]
    columns += [quote(cast(str, f.column)) for f in rest]
    defaults = [f.get_db_prep_save(f.get_default(), connection) for f in rest]
    if connection.vendor == "postgresql":
        # Typed from the columns: an untyped NULL would be text, which no timestamp takes.
        cells = [f"CAST(%s AS {f.db_type(connection)})" for f in rest]
        shown = f"COALESCE(LEFT(page.name, {SHOWN_CHARS}), '')"
        if figures is None:
            source = "unnest(%s::text[], %s::text[]) AS page(key, key_source) ORDER BY 2"
            page: list[Any] = [[k for k, _ in keys], [s for _, s in keys]]
            made = ["page.key", "page.key_source"]
        else:
            source = (
                "unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::jsonb[], "
                "%s::timestamptz[], %s::timestamptz[], %s::integer[], %s::timestamptz[], "
                "%s::timestamptz[]) AS page(key, key_source, name, phone, ext_vars, first_call, "
                "last_call, recent, oldest_recent, right_party) ORDER BY 2"
            )
            page = _figure_arrays(keys, figures)
            made = [
                "page.key",
                "page.key_source",
                shown,
                f"LOWER({shown})",
                f"COALESCE(LEFT(page.phone, {SHOWN_CHARS}), '')",
                f"COALESCE(LEFT(page.ext_vars ->> 'orderId', {SHOWN_CHARS}), '')",
                "page.first_call",
                "page.last_call",
                "page.recent",
                "page.oldest_recent + %s",
                "page.right_party",
            ]
    else:
        source = "json_each(%s) WHERE true ORDER BY 2"  # WHERE: SQLite's parse of ON CONFLICT
        page = [json.dumps(keys, ensure_ascii=False)]
        cells = ["%s"] * len(rest)
        made = ["json_extract(value, '$[0]')", "json_extract(value, '$[1]')"]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(columns)}) "
        f"SELECT %s, {', '.join(made + cells)} FROM {source} "
        f"ON CONFLICT ({account_col}, {key_col}) DO NOTHING "
        f"RETURNING {pk_col}, {key_col}, {source_col}"
    )
    params = [account_pk, *([WINDOW] if figures is not None else []), *defaults, *page]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {key: (pk, source) for pk, key, source in cursor.fetchall()}


def _figure_arrays(keys: list[tuple[str, str]], figures: Mapping[str, Figures]) -> list[Any]:
    """The unnest() arrays of _add_borrowers: one per column of `page`, in key order."""
    from psycopg.types.json import Jsonb  # PostgreSQL's only; SQLite installs need no driver

    right_party = breaches.right_party_codes()
    chosen = [figures[key] for key, _source in keys]
    return [
        [key for key, _source in keys],
        [source for _key, source in keys],
        [f.name for f in chosen],
        [f.phone for f in chosen],
        [None if f.ext_vars is None else Jsonb(f.ext_vars) for f in chosen],
        [f.first for f in chosen],
        [f.last for f in chosen],
        [f.recent for f in chosen],
        [f.oldest_recent for f in chosen],
        [
            max((start for start, code in f.starts if code in right_party), default=None)
            for f in chosen
        ],
    ]


def _column(model: type[Model], name: str) -> str:
    return cast(str, cast(Field, model._meta.get_field(name)).column)


def _set_borrowers(pairs: list[tuple[int, int | None]]) -> None:
    """One UPDATE of the calls given (id, borrower) whose borrower differs."""
    if not pairs:
        return
    quote = connection.ops.quote_name
    calls, pk = quote(CallRecord._meta.db_table), quote(_column(CallRecord, "id"))
    if connection.vendor == "postgresql":
        page = "unnest(%s::bigint[], %s::bigint[]) AS page(id, borrower_id)"
        params: list[Any] = [[call for call, _ in pairs], [borrower for _, borrower in pairs]]
    else:
        page = (
            "(SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS borrower_id "
            "FROM json_each(%s)) AS page"
        )
        params = [json.dumps(pairs)]
    sql = (
        f"UPDATE {calls} SET borrower_id = page.borrower_id FROM {page} "
        f"WHERE {calls}.{pk} = page.id AND {calls}.borrower_id IS DISTINCT FROM page.borrower_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


SHOWN_CHARS = 200


def recount(borrower_pks: Iterable[int], now: datetime | None = None) -> None:
    """Recount borrowers from their calls in one UPDATE: the newest call's name, orderId and
    phone, the first and last call, and the calls in the last 7 days with when that count next
    drops. Each borrower's calls are read through the (borrower, start) index."""
    pks = sorted(set(borrower_pks))
    if not pks:
        return
    now = now or timezone.now()
    since = now - WINDOW
    calls = CallRecord.objects.filter(borrower_id=OuterRef("pk")).order_by()
    dated = calls.filter(start_time__isnull=False)
    newest = calls.order_by(F("start_time").desc(nulls_last=True), "-pk")
    # A start in the future (a clock that runs ahead) is not a call of the last 7 days.
    recent = dated.filter(start_time__gte=since, start_time__lte=now)

    # Cut to SHOWN_CHARS: a name or phone is indexed for the search, and a btree refuses an entry
    # over a third of a page (2,704 bytes), which failed the whole write and lost its calls.
    name = Coalesce(Left(Subquery(newest.values("name")[:1]), SHOWN_CHARS), Value(""))
    order_id = Subquery(
        newest.annotate(
            v=Left(Cast(KeyTextTransform("orderId", "ext_vars"), CharField()), 200)
        ).values("v")[:1]
    )
    oldest_recent = Subquery(recent.order_by("start_time").values("start_time")[:1])
    Borrower.objects.filter(pk__in=one_of(pks)).update(
        name=name,
        search_name=Lower(name),
        phone=Coalesce(Left(Subquery(newest.values("phone")[:1]), SHOWN_CHARS), Value("")),
        order_id=Coalesce(order_id, Value("")),
        first_call_at=Subquery(dated.order_by("start_time").values("start_time")[:1]),
        last_call_at=Subquery(dated.order_by("-start_time").values("start_time")[:1]),
        calls_7d=Coalesce(
            Subquery(
                recent.values("borrower_id").annotate(n=Count("pk")).values("n"),
                output_field=IntegerField(),
            ),
            Value(0),
        ),
        calls_7d_until=ExpressionWrapper(
            oldest_recent + Value(WINDOW), output_field=DateTimeField()
        ),
    )


def refresh_expired(*, batch_size: int = 1000, now: datetime | None = None) -> int:
    """Recount the borrowers whose oldest call counted in calls_7d has left the window since,
    in batches; returns how many. Run every few minutes (`blu borrowers refresh`, the beat job),
    it keeps the list's sort by calls in 7 days within that interval of the truth.

    A borrower a write holds is skipped, not waited for: the write recounts it anyway (and a
    refresh waiting on a writer that waits on the refresh would deadlock); one still due is
    taken by the next run."""
    done = 0
    while True:
        moment = now or timezone.now()
        with transaction.atomic():
            batch = list(
                Borrower.objects.select_for_update(skip_locked=True)
                .filter(calls_7d_until__lt=moment)
                .order_by("calls_7d_until")
                .values_list("pk", flat=True)[:batch_size]
            )
            recount(batch, moment)
        done += len(batch)
        if len(batch) < batch_size:
            return done
