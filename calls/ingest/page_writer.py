"""Writing one page of Blu records: parse each with the tolerant reader, then one bulk upsert of
the new and changed ones (upsert.py) in one transaction, and learn codes nobody has seen (at
most so many a day from what callbacks bring).

Used by the sync run (sync.py) and the callback receiver (callbacks.py) alike: a replayed page or
callback changes nothing, and a final record is never replaced by an in-progress one.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from calls.blu.records import UnstorableRecord, problem_kind, read_record
from calls.ingest import borrowers, summaries, upsert
from calls.ingest.upsert import upsert_calls
from calls.models import BluAccount, Conclusion, Task, lock_account_writes

logger = logging.getLogger(__name__)


@dataclass
class WriteResult:
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # why records were skipped
    problems: Counter[str] = field(default_factory=Counter)  # fields stored empty, and why

    def add(self, other: WriteResult) -> None:
        self.created += other.created
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        self.reasons.update(other.reasons)
        self.problems.update(other.problems)


def read_page(records: Iterable[Any], account: BluAccount) -> tuple[dict[str, dict], WriteResult]:
    """Parse a page: field values by callId (a later duplicate wins) and what was skipped why."""
    zone = account.zone
    parsed: dict[str, dict[str, Any]] = {}
    result = WriteResult()
    for raw in records:
        try:
            fields = read_record(raw, zone)
        except UnstorableRecord as exc:
            result.skipped += 1
            result.reasons[str(exc)] += 1
            logger.warning("Skipped a record for account %s: %s", account.name, exc)
            continue
        if fields["problems"]:
            result.problems.update(map(problem_kind, fields["problems"]))
            logger.warning(
                "Call %s of account %s stored with unreadable fields: %s",
                fields["call_id"],
                account.name,
                "; ".join(fields["problems"]),
            )
        parsed[fields["call_id"]] = fields
    return parsed, result


def is_final(end_time: Any, code: str) -> bool:
    return end_time is not None or bool(code)


# What a later final record may not blank once a final record filled it: a thinner final
# callback (no endTime, no talk time) would otherwise erase a complete one until the next sync.
KEPT_WHEN_BLANK = tuple(
    upsert.FIELDS[upsert.FIELDS.index("job_id") : upsert.FIELDS.index("record_url") + 1]
)  # job_id, user_id, phone, name, status, code, desc, ..., end_time, duration, record_url
# What a stored row is read with under its lock: its task, its hash, and what the kept fields, the
# summaries and the promises (first_seen_at) need.
_STORED = [
    "call_id",
    "task_id",
    "borrower_id",
    "content_hash",
    "problems",
    "first_seen_at",
    *KEPT_WHEN_BLANK,
]


def lock_tasks(task_pks: set[int]) -> None:
    """Lock tasks' rows in key order (refresh and reclassification lock them in that order too,
    so none of them can deadlock with a writer)."""
    list(Task.objects.select_for_update().filter(pk__in=task_pks).order_by("pk").values_list("pk"))


def _blank(value: Any) -> bool:
    return value is None or value == ""


@dataclass
class Pending:
    """One writer's records of one task, already looked at (look()), and what became of them."""

    task: Task
    parsed: dict[str, dict[str, Any]]  # the records that may be new or changed, by callId
    result: WriteResult


def look(account_pk: int, parsed: dict[str, dict[str, Any]], result: WriteResult) -> dict:
    """A first, lock-free look: the records whose stored version differs (or is missing), by
    callId; those stored exactly so are counted unchanged. A page with nothing new ends here,
    writing and locking nothing."""
    looked = dict(
        upsert.stored_calls(account_pk, list(parsed)).values_list("call_id", "content_hash")
    )
    candidates = {
        call_id: fields
        for call_id, fields in sorted(parsed.items())
        if looked.get(call_id) != fields["content_hash"]
    }
    result.unchanged += len(parsed) - len(candidates)
    return candidates


def write_records(
    task: Task,
    parsed: dict[str, dict[str, Any]],
    result: WriteResult,
    *,
    median: bool = True,
    from_query: bool = False,
) -> None:
    """Upsert parsed records of one task with one statement, and keep the figures of every task
    they touch current in the same transaction (summaries.apply_changes). Only new or changed
    records are written.

    A final record is never replaced by an in-progress one (a page fetched before the call ended
    can arrive after the callback that reported its end), never blanks a field a stored final
    record filled, and never moves a stored call to another task: what differs is noted on the
    call as a problem. `median=False` leaves the task's median talk time to the caller (a sync
    refreshes it once at its end, not once a page).

    New conclusion codes are learned (learn_codes): `from_query` says the records are Blu's
    answer to our signed query, whose codes are Blu's own: every one is learned, from unchanged
    records too, so a code the callbacks' cap held back is learned at the task's next sync.
    Otherwise (a callback, which nobody signs) only the written records' codes, within the cap.
    """
    if not parsed:
        return
    # Blu's answer to our signed query: its codes are learned, uncapped, written or not.
    confirmed = _codes(parsed.values()) if from_query else []
    candidates = look(task.account_id, parsed, result)
    if not candidates:
        learn_codes(task.account_id, confirmed, capped=False)
        return
    write_looked(
        [Pending(task, candidates, result)],
        median=median,
        from_query=from_query,
        confirmed=confirmed,
    )


def write_looked(
    batch: list[Pending],
    *,
    median: bool = True,
    from_query: bool = False,
    confirmed: list[tuple[str, str]] | None = None,
    seen_at: datetime | None = None,
) -> None:
    """Write looked-at records of one account's tasks (write_records for one, the callbacks'
    group commit for many: calls/ingest/group_commit.py) in one transaction, under one write
    turn, with one statement of each kind for the whole batch. A callId appears in one Pending
    at most; each Pending's result counts its own records. `seen_at`: the batch's tasks were
    seen live then (a callback came), so they are due no poll; set in the same transaction."""
    account = batch[0].task.account
    confirmed = confirmed or []
    with transaction.atomic():
        if not any(pending.parsed for pending in batch):
            # Nothing to write, no turn to take: the tasks' row locks alone, held by nothing else.
            _mark_seen(batch, seen_at)
            return
        # Writers of an account's calls take turns from here: a callId is unique per account,
        # so two writers of one call (a page and a callback, two callbacks naming two tasks)
        # can only meet in this queue, and each reads below what the other committed. The
        # tasks' rows come next, in key order, as every other locker of tasks takes them.
        key_names = lock_account_writes(account.pk)
        wanted = sorted(call_id for pending in batch for call_id in pending.parsed)
        stored = {
            row["call_id"]: row for row in upsert.stored_calls(account.pk, wanted).values(*_STORED)
        }
        own_tasks = {pending.task.pk for pending in batch}
        # Calls Blu first reported under another task stay there; that task's figures change.
        lock_tasks(own_tasks | {row["task_id"] for row in stored.values()})
        # After the turn and the tasks' locks, in the order every other writer takes them.
        _mark_seen(batch, seen_at)
        now = timezone.now()
        to_write: list[dict[str, Any]] = []
        created: list[str] = []
        removed: dict[int, list[dict[str, Any]]] = {}
        added: dict[int, list[dict[str, Any]]] = {}
        for pending in batch:
            task, result = pending.task, pending.result
            for call_id, fields in pending.parsed.items():
                old = stored.get(call_id)
                if old is None:
                    row = {**fields, "task_id": task.pk}
                    created.append(call_id)
                    result.created += 1
                elif old["content_hash"] == fields["content_hash"] or (
                    is_final(old["end_time"], old["code"])
                    and not is_final(fields["end_time"], fields["code"])
                ):
                    result.unchanged += 1
                    continue
                else:
                    row = _update_of(old, fields, task, result)
                    removed.setdefault(old["task_id"], []).append(old)
                    result.changed += 1
                # first_seen_at is written with a new row only (upsert.py keeps a stored one):
                # the row says what is stored, as what follows the write reads it from here.
                first_seen = now if old is None else old["first_seen_at"]
                row.update(account_id=account.pk, first_seen_at=first_seen, last_changed_at=now)
                to_write.append(row)
                added.setdefault(row["task_id"], []).append(row)
        if not to_write:
            learn_codes(account.pk, confirmed, capped=False)
            return
        links = borrowers.assign(
            account,
            to_write,
            key_names=key_names,
            before={
                row["call_id"]: stored[row["call_id"]]["borrower_id"]
                for row in to_write
                if row["call_id"] in stored
            },
            now=now,
        )
        pks = upsert_calls(to_write)
        if len(pks) < len(to_write):
            # Kept by the upsert's own guard (a duplicate that raced this write): as stored.
            pks.update(
                upsert.stored_calls(
                    account.pk, [row["call_id"] for row in to_write if row["call_id"] not in pks]
                ).values_list("call_id", "pk")
            )
        links.new_calls = {pks[call_id] for call_id in created}
        borrowers.follow(account, to_write, links, pks)
        # In the write's transaction: a page's calls and their new codes come in together.
        if from_query:
            learn_codes(account.pk, confirmed, capped=False)
        else:
            learn_codes(account.pk, _codes(to_write), capped=True)
        touched = sorted(set(added) | set(removed))
        summaries.apply_changes_many(
            {pk: (removed.get(pk, []), added.get(pk, [])) for pk in touched},
            # Another task's calls changed too: its own sync will not refresh its median.
            median={pk for pk in touched if median or pk not in own_tasks},
        )


def _mark_seen(batch: list[Pending], seen_at: datetime | None) -> None:
    """A call just ended: its task is active again, whatever the last poll found."""
    if seen_at is not None:
        pks = sorted({pending.task.pk for pending in batch})
        Task.objects.filter(pk__in=pks).update(last_seen_at=seen_at, next_poll_at=None)


def _update_of(
    old: dict[str, Any], fields: dict[str, Any], task: Task, result: WriteResult
) -> dict[str, Any]:
    """The stored call `old` brought up to date with `fields`: on its own task, and with what a
    thinner final record left blank kept from the stored final one, each noted as a problem."""
    row = {**fields, "task_id": old["task_id"], "problems": list(fields["problems"])}
    notes: list[str] = []
    if old["task_id"] != task.pk:
        notes.append(
            f"another task: a later record came under task {task.blu_task_id}; the call stays "
            "on the task Blu first reported it under"
        )
    if is_final(old["end_time"], old["code"]):
        kept = [name for name in KEPT_WHEN_BLANK if _blank(fields[name]) and not _blank(old[name])]
        for name in kept:
            row[name] = old[name]
        if kept:
            notes.append(
                "thinner final record: it left "
                + ", ".join(kept)
                + " blank; the values of the stored final record stay"
            )
    result.problems.update(map(problem_kind, notes))
    row["problems"] = row["problems"] + notes
    return row


def _codes(rows: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(row["code"], row["desc"]) for row in rows if row["code"]]


# A day, not the company's calendar day: no midnight reopens the cap to a flood.
CODES_WINDOW = timedelta(days=1)


def learn_codes(account_pk: int, codes: Iterable[tuple[str, str]], *, capped: bool) -> list[str]:
    """Add the codes nobody has seen yet, of (code, desc) pairs one per call, labelled with Blu's
    desc, for a manager to classify. Returns the new codes held back by the cap, if any.

    `capped`: at most BLUDASH_CALLBACK_NEW_CODES_PER_DAY new codes from this account in any 24
    hours, counting every code it taught us (checked under the account's write turn, which the
    caller holds). Those carried by the most calls go first. A held-back code's calls are
    stored all the same and show it unclassified, as a code nobody has classified; it is learned
    once a later write has room, or at once when Blu's own query returns a call with it.
    """
    frequency: Counter[str] = Counter()
    descriptions: dict[str, str] = {}
    for code, desc in codes:
        frequency[code] += 1
        descriptions[code] = desc  # the last desc wins, as the last record does
    if not descriptions:
        return []
    known = set(
        Conclusion.objects.filter(code__in=list(descriptions)).values_list("code", flat=True)
    )
    new = sorted(
        (code for code in descriptions if code not in known), key=lambda c: (-frequency[c], c)
    )
    if not new:
        return []
    now = timezone.now()
    held: list[str] = []
    if capped:
        taught = Conclusion.objects.filter(
            learned_from_id=account_pk, learned_at__gt=now - CODES_WINDOW
        ).count()
        room = max(0, settings.BLUDASH_CALLBACK_NEW_CODES_PER_DAY - taught)
        new, held = new[:room], new[room:]
    if new:
        Conclusion.objects.bulk_create(
            [
                Conclusion(
                    code=code,
                    label=(descriptions[code] or code)[:200],
                    classified=False,
                    learned_from_id=account_pk,
                    learned_at=now,
                )
                for code in new
            ],
            ignore_conflicts=True,
        )
    if held:
        name = BluAccount.objects.values_list("name", flat=True).get(pk=account_pk)
        logger.warning(
            "Blu account %s: %d new conclusion codes not added to the dictionary, over "
            "BLUDASH_CALLBACK_NEW_CODES_PER_DAY (%d); their calls are stored, the codes shown "
            "unclassified until Blu's query returns them: %s",
            name,
            len(held),
            settings.BLUDASH_CALLBACK_NEW_CODES_PER_DAY,
            ", ".join(held[:10]),
        )
    return held


def store_records(task: Task, records: Iterable[Any], *, median: bool = True) -> WriteResult:
    """Parse and write one page of raw records for a task (see write_records for `median`)."""
    total = WriteResult()
    for _pages, written in write_pages(task, [records], median=median):
        total.add(written)
    return total


_Page = tuple[dict[str, dict[str, Any]], WriteResult]  # a page as read_page parsed it


def write_pages(
    task: Task, pages: Iterable[Iterable[Any]], *, median: bool = True
) -> Iterator[tuple[int, WriteResult]]:
    """Parse pages of raw records for a task and write them in as few transactions as their
    callIds allow, yielding as each write commits how many pages it held and what it did (so a
    failure after it leaves its counts with the caller). Consecutive pages that share no callId
    are written as one, since a write's statements and commit cost much the same for 2,000
    records as for 500. A callId repeated on a later page starts a new write, so the later copy
    meets the stored one as it would page by page (a final record is never replaced by an
    in-progress one). A write of several pages that the database refuses is made again page by
    page: the pages before a bad record are kept, as they were when each page was a write."""
    group: list[_Page] = []
    for records in pages:
        page = read_page(records, task.account)
        if any(not page[0].keys().isdisjoint(other) for other, _read in group):
            yield from _write_group(task, group, median)
            group = []
        group.append(page)
    if group:
        yield from _write_group(task, group, median)


def _write_group(task: Task, group: list[_Page], median: bool) -> Iterator[tuple[int, WriteResult]]:
    parsed: dict[str, dict[str, Any]] = {}
    result = WriteResult()
    for page, read in group:
        parsed.update(page)
        result.add(read)
    try:
        write_records(task, parsed, result, median=median, from_query=True)
    except DatabaseError:
        if len(group) == 1:
            raise
        logger.warning(
            "A write of %d pages of %s was refused; writing them one at a time", len(group), task
        )
    else:
        yield len(group), result
        return
    for page, read in group:
        # The parse is reused: a write copies the fields it is given, never changes them.
        alone = WriteResult()
        alone.add(read)
        write_records(task, page, alone, median=median, from_query=True)
        yield 1, alone
