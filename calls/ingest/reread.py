"""Re-reading stored calls from the raw records kept with them, with today's reader and the
account's current time zone: after an account's zone is corrected, or a fix to the reader, the
calls already stored read as new ones would, and every figure follows.

In batches of calls in id order, each batch in one transaction with its tasks' figures; the
account remembers where it got to (BluAccount.reread_from_pk), so a re-read that stops (a worker
killed, Ctrl-C) goes on from there and never re-reads twice what it finished.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from calls.blu.records import problem_kind, read_record
from calls.ingest import borrowers, page_writer, summaries
from calls.ingest.page_writer import KEPT_WHEN_BLANK, is_final
from calls.models import BluAccount, CallRecord, lock_account_writes

# What a re-read may change: the fields read from the raw record (the raw record itself, the
# call's task and its first sighting stay).
READ_FIELDS = [
    *KEPT_WHEN_BLANK,
    "ext_vars",
    "ext_vars_raw",
    "script",
    "slots",
    "problems",
]
# Notes the write path added that the raw record alone cannot say again (page_writer._update_of).
_KEPT_NOTES = {"another task", "thinner final record"}


@dataclass
class RereadResult:
    read: int = 0
    changed: int = 0
    done: bool = False


def request_reread(account: BluAccount) -> None:
    """Mark every stored call of the account to be re-read (from the first): the next
    run_reread, from the `blu reread` command or the queued job, does it."""
    BluAccount.objects.filter(pk=account.pk).update(reread_from_pk=0)
    account.reread_from_pk = 0


def run_reread(
    account: BluAccount,
    *,
    batch_size: int = 500,
    progress: Callable[[RereadResult], None] | None = None,
) -> RereadResult:
    """Re-read the account's calls from where the last run stopped (from the first if none is
    pending) to the end, batch by batch; returns what it read and changed."""
    result = RereadResult()
    mine = BluAccount.objects.filter(pk=account.pk, reread_from_pk__isnull=True)
    mine.update(reread_from_pk=0)  # nothing pending: a run by hand re-reads from the first
    position = _position(account)
    while position is not None:
        # Read afresh at every (re)start: a zone saved meanwhile is the one to read in.
        account.refresh_from_db(fields=["time_zone"])
        batch = list(
            CallRecord.objects.filter(account=account, pk__gte=position)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        # Each step moves the mark only from where this run left it: an admin who saved a new
        # zone meanwhile set it back to 0, and the run then starts over in that zone.
        here = BluAccount.objects.filter(pk=account.pk, reread_from_pk=position)
        if not batch:
            if here.update(reread_from_pk=None):
                break
        else:
            result.changed += _reread_batch(account, batch)
            result.read += len(batch)
            if here.update(reread_from_pk=batch[-1] + 1) and progress:
                progress(result)
        position = _position(account)
    account.reread_from_pk = None
    result.done = True
    return result


def _position(account: BluAccount) -> int | None:
    return BluAccount.objects.filter(pk=account.pk).values_list("reread_from_pk", flat=True)[0]


def _reread_batch(account: BluAccount, pks: list[int]) -> int:
    zone = account.zone
    with transaction.atomic():
        # The same turn and lock order as every write (page_writer): the account, then tasks.
        key_names = lock_account_writes(account.pk)
        rows = list(
            CallRecord.objects.filter(pk__in=pks)
            .order_by("pk")
            .values("pk", "call_id", "task_id", "raw", *READ_FIELDS)
        )
        page_writer.lock_tasks({row["task_id"] for row in rows})
        changed: list[CallRecord] = []
        reread_calls: list[dict[str, Any]] = []
        removed: dict[int, list[dict[str, Any]]] = {}
        added: dict[int, list[dict[str, Any]]] = {}
        for old in rows:
            new = _reread(old, zone)
            if all(new[name] == old[name] for name in READ_FIELDS):
                continue
            changed.append(CallRecord(pk=old["pk"], **{name: new[name] for name in READ_FIELDS}))
            reread_calls.append({**new, "call_id": old["call_id"]})
            removed.setdefault(old["task_id"], []).append(old)
            added.setdefault(old["task_id"], []).append(new)
        CallRecord.objects.bulk_update(changed, READ_FIELDS, batch_size=500)
        # A new reading may name another borrower (extVars) or move a start time.
        borrowers.link_calls(account, reread_calls, key_names=key_names)
        # Stored records may have come by callback: their new codes are capped as then.
        page_writer.learn_codes(
            account.pk, [(call.code, call.desc) for call in changed if call.code], capped=True
        )
        for task_pk in sorted(added):
            summaries.apply_changes(task_pk, removed[task_pk], added[task_pk])
    return len(changed)


_TIMES = ("start_time", "answer_time", "end_time")


def _reread(old: dict[str, Any], zone) -> dict[str, Any]:
    fields = read_record(old["raw"], zone)
    # A time kept from an earlier, fuller record (page_writer._update_of) was read in the old
    # zone: it moves by what the re-read start moved.
    moved = None
    if fields["start_time"] is not None and old["start_time"] is not None:
        moved = fields["start_time"] - old["start_time"]
    if is_final(old["end_time"], old["code"]):
        for name in KEPT_WHEN_BLANK:
            if fields[name] in (None, "") and old[name] not in (None, ""):
                fields[name] = old[name]
                if name in _TIMES and moved:
                    fields[name] = old[name] + moved
    kept = [note for note in old["problems"] if problem_kind(note) in _KEPT_NOTES]
    fields["problems"] = fields["problems"] + [n for n in kept if n not in fields["problems"]]
    return fields
