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
    """Link the account's calls given as field values (call_id, ext_vars, user_id) to their
    borrowers, adding borrowers not seen before, recount every borrower touched and make or
    settle the calls' promises (calls/promises/ledger.py) and flag the calls that broke a contact
    limit (calls/limits/breaches.py). Runs in
    the caller's transaction, under the account's write turn. `key_names` are the account's
    borrower keys as lock_account_writes returned them; without them they are read from the
    database now (never from `account`, which may be older than an admin's change). Rows that
    carry every FOLLOWED field as stored (a writer's, just written) are followed from memory;
    others (the backfill's, a re-read's) are read again. Returns the borrowers touched."""
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
    ids = _borrower_ids(account.pk, sources)
    linked = {call_id: ids[found[0]] if found else None for call_id, found in keyed.items()}
    _set_borrowers(
        [
            (pk, linked[call_id])
            for call_id, (pk, borrower_pk) in sorted(stored.items())
            if borrower_pk != linked[call_id]
        ]
    )
    touched = before | set(ids.values())
    # In key order, as refresh_expired() takes them: a recount beside a refresh cannot deadlock.
    list(
        Borrower.objects.select_for_update()
        .filter(pk__in=one_of(sorted(touched)))
        .order_by("pk")
        .values_list("pk")
    )
    recount(touched)
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
    # The calls' promises follow their borrower, code and payment-time slot.
    ledger.follow_calls(account, list(keyed), calls=calls)
    # And their complaints, which put the borrower on the stop list until someone resolves them.
    complaints.follow_calls(account, list(keyed), calls=calls)
    # So do the flags of the calls that broke a contact limit, theirs and their later calls'.
    breaches.follow_calls(account, list(keyed), touched, calls=calls)
    return touched


def _borrower_ids(account_pk: int, sources: dict[str, str]) -> dict[str, int]:
    """The ids of the account's borrowers by key (key: key_source), adding those not there yet
    with one INSERT ... ON CONFLICT DO NOTHING ... RETURNING. A borrower already there is
    written only when its key now comes from another extVars key, so a page of known borrowers
    rewrites (and row-locks) none of them here."""
    if not sources:
        return {}
    known = {
        key: (pk, source)
        for key, pk, source in Borrower.objects.filter(
            account_id=account_pk, key__in=one_of(sorted(sources))
        ).values_list("key", "pk", "key_source")
    }
    missing = sorted(key for key in sources if key not in known)
    if missing:
        known.update(_add_borrowers(account_pk, [(key, sources[key]) for key in missing]))
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
    return {key: pk for key, (pk, _source) in known.items()}


def _add_borrowers(account_pk: int, keys: list[tuple[str, str]]) -> dict[str, tuple[int, str]]:
    """Insert borrowers (key, key_source) in key order, every other column at its default, in
    one statement; returns those inserted. Django's bulk_create prepared every value of 500
    model instances in Python, more than the rest of a page's borrowers cost."""
    quote = connection.ops.quote_name
    meta = Borrower._meta
    given = ("account", "key", "key_source")
    rest = [f for f in meta.concrete_fields if not f.primary_key and f.name not in given]
    account_col, key_col, source_col, pk_col = (
        quote(_column(Borrower, name)) for name in (*given, "id")
    )
    columns = [account_col, key_col, source_col, *(quote(cast(str, f.column)) for f in rest)]
    defaults = [f.get_db_prep_save(f.get_default(), connection) for f in rest]
    if connection.vendor == "postgresql":
        source = "unnest(%s::text[], %s::text[]) AS page(key, key_source) ORDER BY 2"
        page: list[Any] = [[k for k, _ in keys], [s for _, s in keys]]
        # Typed from the columns: an untyped NULL would be text, which no timestamp takes.
        cells = [f"CAST(%s AS {f.db_type(connection)})" for f in rest]
        new_key, new_source = "page.key", "page.key_source"
    else:
        source = "json_each(%s) WHERE true ORDER BY 2"  # WHERE: SQLite's parse of ON CONFLICT
        page = [json.dumps(keys, ensure_ascii=False)]
        cells = ["%s"] * len(rest)
        new_key, new_source = "json_extract(value, '$[0]')", "json_extract(value, '$[1]')"
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(columns)}) "
        f"SELECT %s, {new_key}, {new_source}, {', '.join(cells)} FROM {source} "
        f"ON CONFLICT ({account_col}, {key_col}) DO NOTHING "
        f"RETURNING {pk_col}, {key_col}, {source_col}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [account_pk, *defaults, *page])
        return {key: (pk, source) for pk, key, source in cursor.fetchall()}


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
