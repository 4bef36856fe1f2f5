"""The contact-limit flags of calls (CallLimitBreach, a row only for a call that broke a rule)
and each borrower's last right-party call, kept by every write of calls: calls/ingest/borrowers
.link_calls calls follow_calls in the writer's transaction, under the account's write turn.

A replay, not an applied delta (as the borrowers' recount and the promises' settle are): the
flags of the touched borrowers' calls from the page's earliest start on are worked out again
from their calls since reach() before it, read through the calls' (borrower, start) index. A
sync's page is a day's calls, so that is a week or two of a handful of borrowers' calls; calls
arriving late, twice, or moved by a re-read leave nothing to drift.

`recheck` works out every flag of an account again: after its limits change in the admin, or
after a manager reclassifies a code's right-party flag (each a queued job, calls.tasks; by hand
`blu limits recheck`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max, OuterRef, Subquery

from calls.limits import rules
from calls.models import (
    BluAccount,
    Borrower,
    CallLimitBreach,
    CallRecord,
    Conclusion,
    ContactLimits,
    lock_account_writes,
    one_of,
)

# A re-read in another zone moves a start by at most a zone's offset (under 27 hours): the calls
# that followed its old place, up to this much before the new one, are worked out again too.
MOVED = timedelta(hours=27)


def limits_of(account_pk: int) -> ContactLimits:
    """The account's limits, or the defaults when an admin never saved any."""
    return ContactLimits.objects.filter(account_id=account_pk).first() or ContactLimits(
        account_id=account_pk
    )


def right_party_codes() -> set[str]:
    return set(
        Conclusion.objects.filter(classified=True, right_party=True).values_list("code", flat=True)
    )


def follow_calls(
    account: BluAccount,
    call_ids: Iterable[str],
    borrower_pks: Iterable[int],
    *,
    calls: Sequence[Mapping[str, Any]] | None = None,
    new_calls: Set[int] = frozenset(),
    counted: Set[int] = frozenset(),
) -> None:
    """Flag again the calls named and every later call of the borrowers given (those the calls
    were linked to and left), and recount those borrowers' last right-party call. Runs in the
    caller's transaction. `calls`: those calls as stored (pk and start_time at least), when the
    caller holds them already; otherwise they are read. `new_calls`: ids of calls inserted by
    the caller's transaction, which have no flags yet to clear; `counted`: borrowers whose last
    right-party call the caller wrote already (borrowers.assign adds them so)."""
    ids = list(call_ids)
    pks = sorted(set(borrower_pks))
    if not ids:
        return
    if calls is None:
        page = list(
            CallRecord.objects.filter(account_id=account.pk, call_id__in=one_of(ids)).values_list(
                "pk", "start_time"
            )
        )
    else:
        page = [(call["pk"], call["start_time"]) for call in calls]
    starts = [start for _pk, start in page if start is not None]
    since = min(starts) - MOVED if starts else None
    # A call that lost its start or its borrower keeps no flag.
    _clear([pk for pk, _start in page], new_calls)
    if pks and since is not None:
        _flag(account, pks, since, new_calls)
    _recount_right_party([pk for pk in pks if pk not in counted])


def _clear(call_pks: list[int], new_calls: Set[int]) -> None:
    """Delete the flags of the calls given; a call inserted in this transaction has none."""
    if old := [pk for pk in call_pks if pk not in new_calls]:
        CallLimitBreach.objects.filter(call_id__in=one_of(old)).delete()


def _flag(
    account: BluAccount,
    borrower_pks: list[int],
    since: datetime | None,
    new_calls: Set[int] = frozenset(),
) -> None:
    """Work out the flags of the borrowers' calls from `since` (every call: None) and store the
    broken ones."""
    limits = limits_of(account.pk)
    right_party = right_party_codes()
    calls = CallRecord.objects.filter(
        borrower_id__in=one_of(borrower_pks), start_time__isnull=False
    )
    if since is not None:
        calls = calls.filter(start_time__gte=since - rules.reach(limits))
    by_borrower: dict[int, list[rules.Call]] = defaultdict(list)
    rows = calls.order_by("borrower_id", "start_time", "pk").values_list(
        "pk", "borrower_id", "start_time", "code"
    )
    for pk, borrower_pk, start, code in rows:
        if start is not None and borrower_pk is not None:  # both filtered on: for the types
            by_borrower[borrower_pk].append(rules.Call(pk, start, code in right_party))
    zone = account.zone
    redone: list[int] = []
    found: list[CallLimitBreach] = []
    for borrower_calls in by_borrower.values():
        flags = rules.broken(borrower_calls, limits, zone)
        for call in borrower_calls:
            if since is not None and call.start < since:
                continue  # context only: its flags were worked out with its own page
            redone.append(call.pk)
            broke = flags[call.pk]
            if broke:
                found.append(
                    CallLimitBreach(
                        call_id=call.pk,
                        too_many=broke.too_many,
                        in_hold_off=broke.in_hold_off,
                        outside_hours=broke.outside_hours,
                    )
                )
    if since is not None:  # a whole recheck cleared its borrowers' flags already
        _clear(redone, new_calls)
    CallLimitBreach.objects.bulk_create(found, batch_size=1000)


def _recount_right_party(borrower_pks: list[int]) -> None:
    if not borrower_pks:
        return
    newest = (
        CallRecord.objects.filter(
            borrower_id=OuterRef("pk"),
            code__in=sorted(right_party_codes()),
            start_time__isnull=False,
        )
        .order_by()
        .values("borrower_id")
        .annotate(last=Max("start_time"))
        .values("last")
    )
    Borrower.objects.filter(pk__in=one_of(borrower_pks)).update(
        last_right_party_at=Subquery(newest)
    )


def recheck(
    account: BluAccount,
    *,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Work out every flag of the account's calls and every borrower's last right-party call
    again, a batch of borrowers per transaction under the account's write turn (syncs wait
    between batches, not for the whole run). Returns the borrowers rechecked."""
    done = 0
    after = 0
    while True:
        with transaction.atomic():
            lock_account_writes(account.pk)
            account = BluAccount.objects.get(pk=account.pk)
            batch = list(
                Borrower.objects.filter(account_id=account.pk, pk__gt=after)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if batch:
                CallLimitBreach.objects.filter(call__borrower_id__in=batch).delete()
                _flag(account, batch, None)
                _recount_right_party(batch)
        done += len(batch)
        if progress is not None:
            progress(done)
        if len(batch) < batch_size:
            return done
        after = batch[-1]
