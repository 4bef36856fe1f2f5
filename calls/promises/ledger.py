"""Promises made by the calls and settled by the repayments, kept current by every write of
calls (calls/ingest/borrowers.link_calls calls follow_calls in the writer's transaction) and by
every repayment import.

follow_calls is set-based per page: the page's calls as the writer holds them (or one read of
them), one read of the promises they held, one upsert of their promises, a DELETE of those whose
call no longer promises (a re-read or a correction changed its code, or its borrower went; none
on a page of new calls), then settle() of every borrower touched. Both apply what they change to
the counts by window-end day and outcome the overview reads (outcome_days.py).

settle() is a replay, not an applied delta (as borrowers.recount is): each touched borrower's
promises and repayments are read whole (a borrower has a handful) and every outcome worked out
again, so calls and repayments arriving in any order, twice, or corrected leave nothing to drift.
The rules, per borrower, promises oldest first:
- a promise's repayments are those paid from its call to the end of its window plus
  BLUDASH_PROMISE_GRACE_HOURS, each repayment counted for one promise only (oldest open first);
- a later promise made while an earlier one was still open supersedes it: the earlier one's
  repayments are then only those paid before the later call;
- kept when repaid, partly kept when the repayments fall short of the expected amount (where
  one is known); "claimed paid" when, with no repayment, a call flagged already_paid came while
  it was open; superseded; else open (due, overdue or broken by the time: states.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Q

from calls.models import (
    BluAccount,
    CallRecord,
    Conclusion,
    Promise,
    Repayment,
    lock_account_writes,
    one_of,
)
from calls.promises import outcome_days, windows

# The conclusion flags a promise is made and settled by: a change to either on any code means
# the stored promises may no longer agree with the calls (rebuild()).
PROMISE_FLAGS = ("promise_to_pay", "already_paid")


def grace() -> timedelta:
    return timedelta(hours=settings.BLUDASH_PROMISE_GRACE_HOURS)


def _codes(flag: str) -> list[str]:
    return list(Conclusion.objects.filter(**{flag: True}).values_list("code", flat=True))


def _flagged() -> tuple[set[str], set[str]]:
    """The promise codes and the already-paid codes, in one read."""
    promising: set[str] = set()
    claiming: set[str] = set()
    for code, promises, paid in Conclusion.objects.filter(
        Q(promise_to_pay=True) | Q(already_paid=True)
    ).values_list("code", "promise_to_pay", "already_paid"):
        if promises:
            promising.add(code)
        if paid:
            claiming.add(code)
    return promising, claiming


def follow_calls(
    account: BluAccount,
    call_ids: Iterable[str],
    *,
    calls: Sequence[Mapping[str, Any]] | None = None,
    new_calls: Set[int] = frozenset(),
) -> set[int]:
    """Make, move or remove the promises of the account's calls named, and settle every borrower
    touched. Runs in the caller's transaction; returns the borrowers settled. `calls`: those
    calls as stored (pk, borrower_id and borrowers.FOLLOWED), when the caller holds them
    already (the writer that just stored them); otherwise they are read. `new_calls`: ids of
    calls the caller's transaction inserted, which hold no promise yet to look up."""
    ids = list(call_ids)
    if not ids:
        return set()
    promising, claiming = _flagged()
    if calls is None:
        calls = list(
            CallRecord.objects.filter(account_id=account.pk, call_id__in=one_of(ids)).values(
                "pk",
                "task_id",
                "borrower_id",
                "code",
                "slots",
                "ext_vars",
                "start_time",
                "answer_time",
                "first_seen_at",
            )
        )
    # The promises the calls held: their borrowers are settled, their days' counts moved, and
    # those whose call no longer promises go.
    held_pks: dict[int, int] = {}
    held: dict[int, tuple[int, datetime, str]] = {}
    stored = [call["pk"] for call in calls if call["pk"] not in new_calls]
    for pk, call_pk, borrower, end, outcome in Promise.objects.filter(
        call_id__in=one_of(stored) if stored else []
    ).values_list("pk", "call_id", "borrower_id", "window_end", "outcome"):
        held_pks[call_pk] = pk
        held[call_pk] = (borrower, end, outcome)
    before = {borrower for borrower, _, _ in held.values()}
    zone = account.zone
    made: list[Promise] = []
    for call in calls:
        if call["code"] not in promising or call["borrower_id"] is None:
            continue
        made_at = call["answer_time"] or call["start_time"] or call["first_seen_at"]
        found = windows.window(made_at, call["slots"], zone)
        made.append(
            Promise(
                account_id=account.pk,
                task_id=call["task_id"],
                borrower_id=call["borrower_id"],
                call_id=call["pk"],
                made_at=made_at,
                window_start=found.start,
                window_end=found.end,
                clear_time=found.clear_time,
                expected_amount=windows.expected_amount(call["ext_vars"]),
            )
        )
    kept_calls = {promise.call_id for promise in made}
    gone = [pk for call_pk, pk in held_pks.items() if call_pk not in kept_calls]
    if gone:
        Promise.objects.filter(pk__in=gone).delete()
    if made:
        Promise.objects.bulk_create(
            made,
            update_conflicts=True,
            unique_fields=["call"],
            update_fields=[
                "task",
                "borrower",
                "made_at",
                "window_start",
                "window_end",
                "clear_time",
                "expected_amount",
            ],
        )
    _count_moves(account.pk, held, made)
    touched = before | {promise.borrower_id for promise in made}
    touched |= {c["borrower_id"] for c in calls if c["code"] in claiming and c["borrower_id"]}
    settle(touched, claiming=claiming)
    return touched


def _count_moves(
    account_pk: int, held: dict[int, tuple[int, datetime, str]], made: list[Promise]
) -> None:
    """The outcome days' counts after follow_calls removed, moved or made promises: each one
    held leaves its day, each one made counts on its window's day with the outcome it keeps (the
    upsert leaves a stored promise's outcome; a new one is open) until settle() changes it."""
    changes: Counter[outcome_days.Key] = Counter()
    for _, end, outcome in held.values():
        changes[outcome_days.key_of(account_pk, end, outcome)] -= 1
    for promise in made:
        outcome = held[promise.call_id][2] if promise.call_id in held else Promise.Outcome.OPEN
        changes[outcome_days.key_of(account_pk, promise.window_end, outcome)] += 1
    outcome_days.apply(changes)


def settle(borrower_pks: Iterable[int], *, claiming: set[str] | None = None) -> None:
    """Work out again the outcome of every promise and the promise of every repayment of the
    borrowers given, storing what changed. Runs in the caller's transaction. `claiming`: the
    already-paid codes, when the caller has just read them in this transaction."""
    pks = sorted(set(borrower_pks))
    if not pks:
        return
    promises: dict[int, list[Promise]] = defaultdict(list)
    for promise in Promise.objects.filter(borrower_id__in=pks).order_by("made_at", "pk"):
        promises[promise.borrower_id].append(promise)
    repayments: dict[int, list[Repayment]] = defaultdict(list)
    for repayment in Repayment.objects.filter(borrower_id__in=pks).order_by("paid_at", "pk"):
        repayments[repayment.borrower_id].append(repayment)
    claims: dict[int, list[datetime]] = defaultdict(list)
    if claiming is None:
        claiming = set(_codes("already_paid"))
    made = [promise.made_at for each in promises.values() for promise in each]
    if claiming and made:
        # Only a claim after a promise matters: the borrowers' older calls are not read.
        for borrower_id, at in (
            CallRecord.objects.filter(
                borrower_id__in=list(promises),
                code__in=sorted(claiming),
                start_time__gte=min(made),
            )
            .order_by("start_time")
            .values_list("borrower_id", "start_time")
        ):
            if borrower_id is not None and at is not None:
                claims[borrower_id].append(at)

    changed_promises: list[Promise] = []
    changed_repayments: list[Repayment] = []
    was = {promise.pk: promise.outcome for each in promises.values() for promise in each}
    for pk in pks:
        matched = _replay(promises[pk], repayments[pk], claims[pk])
        for promise in promises[pk]:
            if getattr(promise, "_changed", False):
                changed_promises.append(promise)
        for repayment in repayments[pk]:
            target = matched.get(repayment.pk)
            if repayment.promise_id != target:
                repayment.promise_id = target
                changed_repayments.append(repayment)
    Promise.objects.bulk_update(
        changed_promises,
        ["outcome", "paid_amount", "settled_at", "superseded_by"],
        batch_size=500,
    )
    Repayment.objects.bulk_update(changed_repayments, ["promise"], batch_size=500)
    changes: Counter[outcome_days.Key] = Counter()
    for promise in changed_promises:
        changes[outcome_days.key_of(promise.account_id, promise.window_end, was[promise.pk])] -= 1
        changes[outcome_days.key_of(promise.account_id, promise.window_end, promise.outcome)] += 1
    outcome_days.apply(changes)


def _replay(
    promises: list[Promise], repayments: list[Repayment], claims: list[datetime]
) -> dict[int, int]:
    """Set each promise's outcome from the borrower's repayments and claims (marking changed
    ones); returns the promise each matched repayment went to."""
    after_window = grace()
    used: dict[int, int] = {}
    for n, promise in enumerate(promises):
        deadline = promise.window_end + after_window
        later = promises[n + 1] if n + 1 < len(promises) else None
        superseded = later is not None and later.made_at <= deadline

        # Repayments and claims count from the call to the deadline, or to the later call.
        begin = promise.made_at
        until = later.made_at if superseded and later is not None else None

        def within(at: datetime, begin=begin, until=until, deadline=deadline) -> bool:
            return begin <= at and (at < until if until is not None else at <= deadline)

        paid = Decimal(0)
        settled_at = None
        for repayment in repayments:
            if repayment.pk in used or not within(repayment.paid_at):
                continue
            used[repayment.pk] = promise.pk
            paid += repayment.amount
            settled_at = repayment.paid_at
            # With no amount owed known, every repayment in the window is the promise's (two
            # instalments are both paid); with one, the rest are left for a later promise.
            if promise.expected_amount is not None and paid >= promise.expected_amount:
                break
        claim = next((at for at in claims if within(at)), None)
        superseded_by = None
        if settled_at is not None:
            short = promise.expected_amount is not None and paid < promise.expected_amount
            outcome = Promise.Outcome.PARTLY_KEPT if short else Promise.Outcome.KEPT
        elif claim is not None:
            outcome, settled_at = Promise.Outcome.CLAIMED_PAID, claim
        elif superseded and later is not None:
            outcome, superseded_by = Promise.Outcome.SUPERSEDED, later.pk
        else:
            outcome = Promise.Outcome.OPEN
        new = (outcome, paid, settled_at, superseded_by)
        if new != (
            promise.outcome,
            promise.paid_amount,
            promise.settled_at,
            promise.superseded_by_id,
        ):
            promise.outcome, promise.paid_amount, promise.settled_at = outcome, paid, settled_at
            promise.superseded_by_id = superseded_by
            promise._changed = True  # type: ignore[attr-defined]
    return used


def rebuild_all() -> dict[str, int]:
    """Every account's promises made again (rebuild): what `blu promises rebuild` and the job a
    reclassified code queues run. Returns the calls read, by account name."""
    return {account.name: rebuild(account) for account in BluAccount.objects.order_by("pk")}


def rebuild(account: BluAccount, *, batch_size: int = 1000) -> int:
    """Make the account's promises again from its stored calls, in batches (each in its own
    transaction, under the account's write turn): after a manager flags a code as a promise or
    already paid, or unflags one. Reads the calls whose code is flagged now and those holding a
    promise; returns how many calls were read."""
    from django.db import transaction
    from django.db.models import Q

    codes = _codes("promise_to_pay") + _codes("already_paid")
    wanted = CallRecord.objects.filter(account_id=account.pk).filter(
        Q(code__in=codes) | Q(promise__isnull=False)
    )
    after, read = 0, 0
    while True:
        batch = list(
            wanted.filter(pk__gt=after).order_by("pk").values_list("pk", "call_id")[:batch_size]
        )
        if not batch:
            # Counted afresh at the end: whatever drifted (the company's zone changed, a
            # promise deleted with its task) is mended by the rebuild a manager can run.
            with transaction.atomic():
                lock_account_writes(account.pk)
                outcome_days.recount(account.pk)
            return read
        with transaction.atomic():
            lock_account_writes(account.pk)
            follow_calls(account, [call_id for _, call_id in batch])
        after, read = batch[-1][0], read + len(batch)
