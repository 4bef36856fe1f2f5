"""Syncing one task: every page Blu has for it, written as it arrives (page_writer.py), under the
task's lease (lease.py), with the run's outcome recorded where people see it.

The pages that arrived while the last write ran (up to BLUDASH_SYNC_WRITE_PAGES) are written
together in one transaction: a failure mid-sync keeps every write already committed and a
replayed page changes nothing. Records Blu no longer returns (older than 45 days) are never
touched.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from calls.blu import client
from calls.health import alerts
from calls.ingest import summaries, unknown_tasks, upsert
from calls.ingest.clock import db_now
from calls.ingest.lease import LeaseLost, SyncBusy, claim, release, renew
from calls.ingest.page_writer import WriteResult, write_pages
from calls.models import SyncRun, Task
from calls.security.crypto import AppKeyUnreadable

logger = logging.getLogger(__name__)


_T = TypeVar("_T")
_END = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def read_ahead(items: Iterator[_T], *, most: int) -> Generator[list[_T], None, None]:
    """Yield items in lists of up to `most` while a thread fetches up to `most` more: a page's
    database write overlaps the next downloads, and the pages that arrived during one write go
    into the next together. A failure to fetch is raised once every item fetched before it was
    yielded, so a sync keeps what it downloaded."""
    waiting: queue.Queue[Any] = queue.Queue(maxsize=most)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for item in items:
                waiting.put(item)
                if stop.is_set():
                    return
        except BaseException as exc:  # raised in the sync's own thread, not lost with this one
            waiting.put(_Failed(exc))
            return
        waiting.put(_END)

    fetcher = threading.Thread(target=fetch, name="blu-prefetch", daemon=True)
    fetcher.start()
    try:
        ended: Any = None
        while ended is None:
            first = waiting.get()
            if first is _END:
                return
            if isinstance(first, _Failed):
                raise first.exc
            group = [first]
            while len(group) < most:
                try:
                    item = waiting.get_nowait()
                except queue.Empty:
                    break
                if item is _END or isinstance(item, _Failed):
                    ended = item
                    break
                group.append(item)
            yield group
        if isinstance(ended, _Failed):
            raise ended.exc
    finally:
        # The fetcher puts at most one item after this (the queue is empty, so it never
        # blocks), sees the stop and ends; joined so no download outlives the sync.
        stop.set()
        while True:
            try:
                waiting.get_nowait()
            except queue.Empty:
                break
        fetcher.join()


ProgressFn = Callable[[SyncRun], None]

# The lease is renewed before a page only when this much of it has passed since the last renewal
# (by this process's monotonic clock): until then at least nine tenths of it are left, so no
# other worker can have taken the task and there is nothing to check. Renewing before every page
# cost two statements (the database's clock, then the UPDATE) and a commit a page.
RENEW_FRACTION = 0.1
RENEW_AT_MOST_SECONDS = 5.0


class _Lease:
    """This sync's hold on its task's lease (lease.py), renewed as often as it needs to be."""

    def __init__(self, task_pk: int, owner: str, claimed_at: float) -> None:
        """`claimed_at`: time.monotonic() taken before the claim's UPDATE."""
        self.task_pk, self.owner = task_pk, owner
        lease = settings.BLUDASH_SYNC_LEASE_SECONDS
        self.interval = min(RENEW_AT_MOST_SECONDS, lease * RENEW_FRACTION)
        self.renewed_at = claimed_at

    def keep(self) -> bool:
        """False when the lease ran out and another worker holds it now."""
        if time.monotonic() - self.renewed_at < self.interval:
            return True
        started = time.monotonic()
        if not renew(self.task_pk, self.owner):
            return False
        # From before the renewal: the lease runs from the database's clock at the UPDATE.
        self.renewed_at = started
        return True


# How many new calls between two looks at whether the planner's statistics fell behind.
STATISTICS_LOOK_EVERY = 2_000


class _Statistics:
    """Refreshes the planner's statistics while a sync grows the tables (upsert.py): every
    BLUDASH_ANALYZE_EVERY_ROWS new calls, and sooner once they are more than a fifth of what the
    planner knows of (looked at every STATISTICS_LOOK_EVERY new calls)."""

    def __init__(self) -> None:
        self.analyzed_at = self.looked_at = 0

    def after(self, created: int) -> None:
        """Called after each page with the sync's new calls so far."""
        new = created - self.analyzed_at
        if new >= settings.BLUDASH_ANALYZE_EVERY_ROWS:
            stale = True
        elif created - self.looked_at >= STATISTICS_LOOK_EVERY:
            self.looked_at = created
            stale = upsert.statistics_behind(new)
        else:
            return
        if stale:
            upsert.refresh_statistics()
            self.analyzed_at = self.looked_at = created


def sync_task(
    task: Task, *, trigger: str = "manual", progress: ProgressFn | None = None
) -> SyncRun:
    """Fetch every page of one task from Blu and store it; returns the finished SyncRun.

    Raises SyncBusy (and records nothing) when another worker is syncing the task. On any failure
    (Blu, an unreadable key, a lost database connection) the run is recorded as failed with the
    message, the pages already stored stay stored (the interrupted write is rolled back whole), the
    lease is released, and the error is raised again for the caller to retry or report.
    """
    owner = uuid.uuid4().hex
    claimed_at = time.monotonic()
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
    statistics = _Statistics()
    held = _Lease(task.pk, owner, claimed_at)
    try:
        creds = task.account.credentials()
        pages = client.iter_pages(creds, task.blu_task_id)
        # Closed on the way out, so the download stops before the failure is recorded.
        with closing(read_ahead(pages, most=settings.BLUDASH_SYNC_WRITE_PAGES)) as groups:
            for arrived in groups:
                if not held.keep():
                    raise LeaseLost(f"{task}: the sync lease ran out and another worker took over")
                # Each write keeps the figures current; the median, a recount, waits for the end.
                for pages_written, written in write_pages(task, arrived, median=False):
                    totals.add(written)
                    run.pages += pages_written
                _copy_totals(run, totals)
                run.save(update_fields=[*_COUNT_FIELDS, "pages"])
                statistics.after(totals.created)
                if progress:
                    progress(run)
    except Exception as exc:
        if isinstance(exc, DatabaseError):
            _drop_broken_connection()
        # Only Blu's own answers and silences are the account's failures: a lost lease, an
        # unreadable key or our database failing says nothing about Blu. Nor does Blu saying it
        # knows no such task: that is the task's id at fault (made up, mistyped, not made yet),
        # and a callback can name any number of those. Nor our own limit on requests at once
        # (no slot came free: nothing was sent).
        unknown = isinstance(exc, client.BluTaskUnknown)
        blu_failed = isinstance(exc, client.BluError) and not unknown
        blu_failed = blu_failed and not isinstance(exc, client.BluSlotsBusy)
        _record_failure(
            task,
            run,
            totals,
            error=_failure_message(exc),
            blu_failed=blu_failed,
            unknown_to_blu=unknown,
        )
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


def _record_failure(
    task: Task,
    run: SyncRun,
    totals: WriteResult,
    error: str,
    blu_failed: bool,
    unknown_to_blu: bool = False,
) -> None:
    """_finish with the error; if the database refuses that too, the run stays "running" until
    the next sync of the task closes it, and the original error goes on to the caller."""
    try:
        _finish(
            task, run, totals, error=error, blu_failed=blu_failed, unknown_to_blu=unknown_to_blu
        )
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


def _finish(
    task: Task,
    run: SyncRun,
    totals: WriteResult,
    error: str = "",
    blu_failed: bool = False,
    unknown_to_blu: bool = False,
) -> None:
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
    if not error:
        unknown_tasks.record_known(task.pk)
    alerts.record_sync_outcome(task, error, blu_failed=blu_failed)
    summaries.refresh_median_talk(task)
    task.refresh_from_db(fields=summaries.SUMMARY_COLUMNS)
    quiet = (
        not error
        and not (totals.created or totals.changed)
        and 0 < task.calls_final == task.calls_total
        and task.last_call_at is not None
        and task.last_call_at < now - timedelta(hours=2)
    )
    # Due times are compared with the database's clock (polling.py), so they are set by it.
    db_time = db_now()
    if unknown_to_blu:
        # Asked again later and later, then no more: no Celery retry follows a permanent error.
        unknown_tasks.record_unknown(task.pk, db_time)
        return
    if error:
        # A Celery retry is on its way; polls leave the task to it for that long.
        next_poll = db_time + timedelta(seconds=settings.BLUDASH_TASK_RETRY_MAX_DELAY)
    elif quiet:
        next_poll = db_time + timedelta(seconds=settings.BLUDASH_QUIET_POLL_SECONDS)
    else:
        next_poll = None
    Task.objects.filter(pk=task.pk).update(next_poll_at=next_poll)
