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

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Subquery,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Left, Lower
from django.utils import timezone

from calls.contact import complaints
from calls.limits import breaches
from calls.models import BluAccount, Borrower, CallRecord
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
    database now (never from `account`, which may be older than an admin's change). Returns the
    borrowers touched."""
    if key_names is None:
        key_names = BluAccount.objects.get(pk=account.pk).borrower_key_list()
    keyed = {
        row["call_id"]: borrower_key(row["ext_vars"], row["user_id"], key_names) for row in rows
    }
    if not keyed:
        return set()
    # A re-read or a corrected record may take a call from one borrower to another.
    before = set(
        CallRecord.objects.filter(
            account_id=account.pk, call_id__in=list(keyed), borrower__isnull=False
        ).values_list("borrower_id", flat=True)
    )
    sources = dict(found for found in keyed.values() if found)
    ids = _borrower_ids(account.pk, sources)
    _set_borrowers(
        account.pk,
        [(call_id, ids[found[0]] if found else None) for call_id, found in keyed.items()],
    )
    touched = before | set(ids.values())
    # In key order, as refresh_expired() takes them: a recount beside a refresh cannot deadlock.
    list(
        Borrower.objects.select_for_update()
        .filter(pk__in=sorted(touched))
        .order_by("pk")
        .values_list("pk")
    )
    recount(touched)
    # The calls' promises follow their borrower, code and payment-time slot.
    ledger.follow_calls(account, list(keyed))
    # And their complaints, which put the borrower on the stop list until someone resolves them.
    complaints.follow_calls(account, list(keyed))
    # So do the flags of the calls that broke a contact limit, theirs and their later calls'.
    breaches.follow_calls(account, list(keyed), touched)
    return touched


def _borrower_ids(account_pk: int, sources: dict[str, str]) -> dict[str, int]:
    """The ids of the account's borrowers by key (key: key_source), adding those not there yet.
    A borrower already there is written only when its key now comes from another extVars key,
    so a page of known borrowers rewrites (and row-locks) none of them here."""
    if not sources:
        return {}
    known = {
        key: (pk, source)
        for key, pk, source in Borrower.objects.filter(
            account_id=account_pk, key__in=sorted(sources)
        ).values_list("key", "pk", "key_source")
    }
    missing = sorted(key for key in sources if key not in known)
    if missing:
        Borrower.objects.bulk_create(
            [Borrower(account_id=account_pk, key=key, key_source=sources[key]) for key in missing],
            ignore_conflicts=True,
        )
        known.update(
            (key, (pk, source))
            for key, pk, source in Borrower.objects.filter(
                account_id=account_pk, key__in=missing
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


def _set_borrowers(account_pk: int, pairs: list[tuple[str, int | None]]) -> None:
    """One UPDATE of the calls whose borrower differs from the one given (call_id, borrower)."""
    calls = connection.ops.quote_name(CallRecord._meta.db_table)
    values = ", ".join(["(%s, CAST(%s AS bigint))"] * len(pairs))
    sql = (
        f"WITH page(call_id, borrower_id) AS (VALUES {values}) "
        f"UPDATE {calls} SET borrower_id = page.borrower_id FROM page "
        f"WHERE {calls}.account_id = %s AND {calls}.call_id = page.call_id "
        f"AND {calls}.borrower_id IS DISTINCT FROM page.borrower_id"
    )
    params: list[Any] = [value for pair in pairs for value in pair]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, account_pk])


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
    Borrower.objects.filter(pk__in=pks).update(
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
