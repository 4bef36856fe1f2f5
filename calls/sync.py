"""Bringing Blu's dial results into our database: plain functions the Celery tasks, the `blu`
command, the callback view and the tests all call.

A page is written with one bulk upsert keyed on (account, callId) (upsert.py), in its own
transaction: a failure mid-sync keeps every page already written and a replayed page changes
nothing. Records Blu no longer returns (older than 45 days) are never touched.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import alerts, upsert
from .blu import client
from .crypto import AppKeyUnreadable
from .models import BluAccount, CallRecord, Conclusion, SyncRun, Task
from .records import UnstorableRecord, problem_kind, read_record
from .summaries import refresh_task_summary
from .upsert import upsert_calls

logger = logging.getLogger(__name__)


class SyncBusy(Exception):
    """Another worker holds this task's sync lease."""


class LeaseLost(Exception):
    """This sync's lease expired and another worker took the task over."""


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


# --- the sync lease: one worker per task, and a dead worker's claim runs out ----------------------


def claim(task_id: int, owner: str) -> bool:
    now = timezone.now()
    until = now + timedelta(seconds=settings.BLUDASH_SYNC_LEASE_SECONDS)
    free = Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lt=now)
    # The row count of a conditional UPDATE says who won; the database serialises the race.
    return (
        Task.objects.filter(free, pk=task_id).update(sync_owner=owner, sync_lease_until=until) == 1
    )


def renew(task_id: int, owner: str) -> bool:
    until = timezone.now() + timedelta(seconds=settings.BLUDASH_SYNC_LEASE_SECONDS)
    return Task.objects.filter(pk=task_id, sync_owner=owner).update(sync_lease_until=until) == 1


def release(task_id: int, owner: str) -> None:
    Task.objects.filter(pk=task_id, sync_owner=owner).update(sync_owner="", sync_lease_until=None)


def lease_seconds_left(task_id: int) -> float:
    """How long the task's sync lease still holds; 0 when nobody holds it."""
    until = Task.objects.filter(pk=task_id).values_list("sync_lease_until", flat=True).first()
    return 0.0 if until is None else max(0.0, (until - timezone.now()).total_seconds())


_T = TypeVar("_T")
_END = object()


def prefetched(items: Iterator[_T]) -> Iterator[_T]:
    """Yield items while the next one is fetched in a thread: database writes of one page overlap
    the download of the next, so a sync costs about the download time, not download plus writes."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="blu-prefetch") as pool:
        upcoming = pool.submit(next, items, _END)
        while True:
            item = upcoming.result()
            if item is _END:
                return
            upcoming = pool.submit(next, items, _END)
            yield item  # type: ignore[misc]


ProgressFn = Callable[[SyncRun], None]


def sync_task(
    task: Task, *, trigger: str = "manual", progress: ProgressFn | None = None
) -> SyncRun:
    """Fetch every page of one task from Blu and store it; returns the finished SyncRun.

    Raises SyncBusy (and records nothing) when another worker is syncing the task. On any failure
    (Blu, an unreadable key, a lost database connection) the run is recorded as failed with the
    message, the pages already stored stay stored (the interrupted one is rolled back whole), the
    lease is released, and the error is raised again for the caller to retry or report.
    """
    owner = uuid.uuid4().hex
    if not claim(task.pk, owner):
        raise SyncBusy(f"{task} is being synced by another worker")
    try:
        # Runs left "running" by a worker that died: the lease we now hold proves they ended.
        SyncRun.objects.filter(task=task, outcome=SyncRun.Outcome.RUNNING).update(
            outcome=SyncRun.Outcome.FAILED,
            finished_at=timezone.now(),
            error="the worker stopped before this sync finished",
        )
        run = SyncRun.objects.create(task=task, trigger=trigger)
    except BaseException as exc:
        if isinstance(exc, DatabaseError):
            _drop_broken_connection()
        _release_if_possible(task.pk, owner)
        raise
    totals = WriteResult()
    analyzed_at = 0
    try:
        creds = task.account.credentials()
        for records in prefetched(client.iter_pages(creds, task.blu_task_id)):
            if not renew(task.pk, owner):
                raise LeaseLost(f"{task}: the sync lease ran out and another worker took over")
            totals.add(store_records(task, records))
            run.pages += 1
            _copy_totals(run, totals)
            run.save(update_fields=[*_COUNT_FIELDS, "pages"])
            if totals.created - analyzed_at >= settings.BLUDASH_ANALYZE_EVERY_ROWS:
                upsert.refresh_statistics()
                analyzed_at = totals.created
            if progress:
                progress(run)
    except Exception as exc:
        if isinstance(exc, DatabaseError):
            _drop_broken_connection()
        _record_failure(task, run, totals, error=_failure_message(exc))
        raise
    else:
        _finish(task, run, totals)
    finally:
        _release_if_possible(task.pk, owner)
    return run


def _failure_message(exc: Exception) -> str:
    """What a person reads on the failed run: Blu's own words, or what kind of failure it was."""
    if isinstance(exc, client.BluError | AppKeyUnreadable | LeaseLost):
        return str(exc)
    if isinstance(exc, DatabaseError):
        # The first line is the server's message; later ones (DETAIL) may quote a row's values.
        first_line = (str(exc).strip().splitlines() or [""])[0]
        return f"database error ({type(exc).__name__}): {first_line}"[:500]
    # An unexpected failure still leaves a run a person can see; details go to the log.
    return f"internal error: {type(exc).__name__}"


def _drop_broken_connection() -> None:
    """After a database error, close this thread's connection if it no longer works, so that
    recording the failure and releasing the lease reconnect instead of failing in turn.

    Inside a caller's transaction the connection is left alone: closing it would end that
    transaction behind the caller's back.
    """
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()


def _record_failure(task: Task, run: SyncRun, totals: WriteResult, error: str) -> None:
    """_finish with the error; if the database refuses that too, the run stays "running" until
    the next sync of the task closes it, and the original error goes on to the caller."""
    try:
        _finish(task, run, totals, error=error)
    except DatabaseError:
        logger.exception("Could not record the failed sync of %s (%s)", task, error)
        _drop_broken_connection()


def _release_if_possible(task_pk: int, owner: str) -> None:
    try:
        release(task_pk, owner)
    except DatabaseError:
        # Nothing lost: an unreleased lease runs out by itself (BLUDASH_SYNC_LEASE_SECONDS).
        logger.exception("Could not release the sync lease of task %s", task_pk)
        _drop_broken_connection()


_COUNT_FIELDS = ["created", "changed", "unchanged", "skipped", "skip_reasons", "problems"]


def _copy_totals(run: SyncRun, totals: WriteResult) -> None:
    run.created, run.changed = totals.created, totals.changed
    run.unchanged, run.skipped = totals.unchanged, totals.skipped
    run.skip_reasons = dict(totals.reasons.most_common(20))
    run.problems = dict(totals.problems.most_common(20))


def _finish(task: Task, run: SyncRun, totals: WriteResult, error: str = "") -> None:
    now = timezone.now()
    _copy_totals(run, totals)
    run.finished_at = now
    run.outcome = SyncRun.Outcome.FAILED if error else SyncRun.Outcome.OK
    run.error = error[:2000]
    run.save()
    task_fields: dict[str, Any] = {
        "last_sync_at": now,
        "last_sync_ok": not error,
        "last_error": error[:2000],
    }
    if not error:
        task_fields["last_success_at"] = now
    if totals.created or totals.changed:
        task_fields["last_seen_at"] = now
    Task.objects.filter(pk=task.pk).update(**task_fields)
    alerts.record_sync_outcome(task, error)
    refresh_task_summary(task)
    quiet = (
        not error
        and not (totals.created or totals.changed)
        and 0 < task.calls_final == task.calls_total
        and task.last_call_at is not None
        and task.last_call_at < now - timedelta(hours=2)
    )
    if error:
        # A Celery retry is on its way; polls leave the task to it for that long.
        next_poll = now + timedelta(seconds=settings.BLUDASH_TASK_RETRY_MAX_DELAY)
    elif quiet:
        next_poll = now + timedelta(seconds=settings.BLUDASH_QUIET_POLL_SECONDS)
    else:
        next_poll = None
    Task.objects.filter(pk=task.pk).update(next_poll_at=next_poll)


# --- which tasks to poll -------------------------------------------------------------------


def retire_old_tasks(now=None) -> int:
    """Stop polling tasks whose calls all lie beyond Blu's query window; their records stay."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.BLUDASH_QUERY_WINDOW_DAYS)
    beyond = Q(last_call_at__lt=cutoff) | Q(last_call_at__isnull=True, first_seen_at__lt=cutoff)
    return Task.objects.filter(beyond, is_polled=True).update(is_polled=False)


def _due(now) -> Q:
    return (
        Q(is_polled=True, account__is_polled=True)
        & (Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        & (Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lt=now))
    )


def due_task_ids() -> list[int]:
    """Polled tasks that are due and that no worker is syncing now, least recently synced first."""
    return list(
        Task.objects.filter(_due(timezone.now()))
        .order_by(F("last_sync_at").asc(nulls_first=True))
        .values_list("pk", flat=True)
    )


def take_due_tasks() -> list[int]:
    """The due tasks, each marked as queued so that later polls do not queue it again.

    The mark (next_poll_at pushed ahead) is replaced when the sync finishes; if the job is lost
    on the way, the task is due again once the mark runs out.
    """
    now = timezone.now()
    due = due_task_ids()
    if due:
        queued_until = now + timedelta(seconds=settings.BLUDASH_QUEUED_SECONDS)
        Task.objects.filter(_due(now), pk__in=due).update(next_poll_at=queued_until)
    return due


def register_task(account: BluAccount, blu_task_id: str, name: str = "") -> tuple[Task, bool]:
    """The task for this id, created if new; a new task is queued for a sync once committed."""
    task, created = Task.objects.get_or_create(
        account=account, blu_task_id=str(blu_task_id).strip(), defaults={"name": name}
    )
    if created:
        transaction.on_commit(lambda: enqueue_sync(task.pk, trigger="new"))
    return task, created


def enqueue_sync(task_pk: int, trigger: str = "poll") -> None:
    from .tasks import sync_task as sync_job

    try:
        # No publish retries: a callback must answer Blu quickly even with the broker down.
        sync_job.apply_async((task_pk, trigger), retry=False)
    except Exception as exc:  # broker down: the next poll picks the task up anyway
        logger.warning("Could not queue a sync of task %s (%s); the next poll will", task_pk, exc)
