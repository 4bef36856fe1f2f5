"""Writing one page of Blu records: parse each with the tolerant reader, then one bulk upsert of
the new and changed ones (upsert.py) in one transaction, and learn codes nobody has seen.

Used by the sync run (sync.py) and the callback receiver (callbacks.py) alike: a replayed page or
callback changes nothing, and a final record is never replaced by an in-progress one.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from calls.blu.records import UnstorableRecord, problem_kind, read_record
from calls.ingest.upsert import upsert_calls
from calls.models import BluAccount, CallRecord, Conclusion, Task

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


def _is_final(end_time: Any, code: str) -> bool:
    return end_time is not None or bool(code)


def write_records(task: Task, parsed: dict[str, dict[str, Any]], result: WriteResult) -> None:
    """Upsert parsed records of one task with one statement; only new or changed ones are written.

    A final record is never replaced by an in-progress one: a page fetched before the call ended
    can arrive after the callback that reported its end.
    """
    if not parsed:
        return
    # A first, lock-free look: a page with nothing new ends here, writing and locking nothing.
    existing = {
        call_id: (digest, _is_final(end_time, code))
        for call_id, digest, end_time, code in CallRecord.objects.filter(
            account_id=task.account_id, call_id__in=list(parsed)
        ).values_list("call_id", "content_hash", "end_time", "code")
    }
    new_ids, changed_ids = [], []
    for call_id, fields in parsed.items():
        old = existing.get(call_id)
        if old is None:
            new_ids.append(call_id)
        elif old[0] == fields["content_hash"] or (
            old[1] and not _is_final(fields["end_time"], fields["code"])
        ):
            result.unchanged += 1
        else:
            changed_ids.append(call_id)
    if not new_ids and not changed_ids:
        return
    with transaction.atomic():
        if changed_ids:
            # Lock the rows about to change (in key order, so two writers cannot deadlock) and
            # look again: a callback may have made one final since the first look.
            final_now = {
                call_id
                for call_id, end_time, code in CallRecord.objects.select_for_update()
                .filter(account_id=task.account_id, call_id__in=changed_ids)
                .order_by("call_id")
                .values_list("call_id", "end_time", "code")
                if _is_final(end_time, code)
            }
            stale = {
                call_id
                for call_id in final_now
                if not _is_final(parsed[call_id]["end_time"], parsed[call_id]["code"])
            }
            changed_ids = [call_id for call_id in changed_ids if call_id not in stale]
            result.unchanged += len(stale)
        now = timezone.now()
        to_write = sorted(new_ids + changed_ids)
        upsert_calls(
            {
                **parsed[call_id],
                "account_id": task.account_id,
                "task_id": task.pk,
                "first_seen_at": now,
                "last_changed_at": now,
            }
            for call_id in to_write
        )
        _learn_codes({parsed[c]["code"]: parsed[c]["desc"] for c in to_write if parsed[c]["code"]})
    result.created += len(new_ids)
    result.changed += len(changed_ids)


def _learn_codes(descriptions: dict[str, str]) -> None:
    """Add codes nobody has seen yet, labelled with Blu's desc, for a manager to classify."""
    if not descriptions:
        return
    known = set(
        Conclusion.objects.filter(code__in=list(descriptions)).values_list("code", flat=True)
    )
    new = [
        Conclusion(code=code, label=(desc or code)[:200], classified=False)
        for code, desc in descriptions.items()
        if code not in known
    ]
    if new:
        Conclusion.objects.bulk_create(new, ignore_conflicts=True)


def store_records(task: Task, records: Iterable[Any]) -> WriteResult:
    """Parse and write one page of raw records for a task."""
    parsed, result = read_page(records, task.account)
    write_records(task, parsed, result)
    return result
