"""Callbacks of one account written together: a group commit.

Every write of an account's calls takes the account's write turn (calls.models.lock_account_writes),
so concurrent callbacks of one account queue there and each pays the whole write alone: the turn,
the stored rows' read, the upsert, the borrowers' and promises' statements and the figures, one
after another. Throughput was one over that critical section, whatever the cores.

Here the callbacks a process's threads hold for one account wait in one queue instead. One thread
of the process at a time (the leader) takes the account's turn, waiting for other processes'
writes if need be, then every callback queued by then (its own first), writes them in one
transaction with one statement of each kind (page_writer.write_looked), and
only after that transaction has committed hands each waiting thread its own answer (its created
and changed counts) and the turn to the next waiting thread, if any. So:

- a callback is answered only once its record is committed, figures included (issue 11);
- two callbacks carrying one callId are never in one batch: the later waits for the next one,
  and reads what the earlier stored, as it would have alone;
- when a batch fails (a database error), nothing of it was committed and each of its callbacks is
  written again alone: one bad record fails its own callback, not its neighbours'.

Processes (gunicorn workers, machines) still take turns on the account's row lock, each with a
batch. A write inside a transaction already open (a test's, or an outer atomic block) is never
queued: its commit is the caller's, so it could not be answered after it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from calls.ingest.page_writer import Pending, WriteResult, write_looked
from calls.models import lock_account_writes

logger = logging.getLogger(__name__)

# Enough to carry every thread of a few processes; a batch stays one short transaction.
MAX_BATCH = 64


@dataclass(eq=False)
class _Waiting:
    pending: Pending
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to write the next batch, not with an answer
    error: BaseException | None = None


@dataclass
class _Queue:
    lock: threading.Lock = field(default_factory=threading.Lock)
    waiting: list[_Waiting] = field(default_factory=list)
    leading: bool = False  # a thread of this process is writing one of the account's batches


_queues: dict[int, _Queue] = {}
_queues_lock = threading.Lock()


def _queue(account_pk: int) -> _Queue:
    with _queues_lock:
        return _queues.setdefault(account_pk, _Queue())


def write(pending: Pending) -> None:
    """Write one callback's looked-at records (page_writer.look) with whatever callbacks of the
    same account this process's other threads are writing, and return once they are committed:
    pending.result then counts this callback's own records. Raises what writing them alone
    raised. Call it outside any transaction."""
    queue = _queue(pending.task.account_id)
    me = _Waiting(pending)
    with queue.lock:
        queue.waiting.append(me)
        lead = not queue.leading
        queue.leading = True
    if not lead:
        me.done.wait()
        if not me.lead:
            if me.error is not None:
                raise me.error
            return
    try:
        _lead(queue, me)
    finally:
        _hand_on(queue)
    if me.error is not None:
        raise me.error


def _take(queue: _Queue, me: _Waiting) -> list[_Waiting]:
    """The leader's own callback first, then those waiting whose callIds no earlier one in the
    batch carries, oldest first, up to MAX_BATCH."""
    with queue.lock:
        batch = [me]
        seen = set(me.pending.parsed)
        for waiting in queue.waiting:
            if len(batch) >= MAX_BATCH:
                break
            if waiting is me:
                continue
            ids = set(waiting.pending.parsed)
            if ids & seen:
                seen |= ids  # a later one with these callIds must not overtake it
                continue
            seen |= ids
            batch.append(waiting)
        taken = set(map(id, batch))
        queue.waiting = [waiting for waiting in queue.waiting if id(waiting) not in taken]
    return batch


def _hand_on(queue: _Queue) -> None:
    """The turn to the oldest waiting thread, or to nobody."""
    with queue.lock:
        if queue.waiting:
            nxt = queue.waiting[0]
            nxt.lead = True
            nxt.done.set()
        else:
            queue.leading = False


def _lead(queue: _Queue, me: _Waiting) -> None:
    """Take the account's write turn, then every callback queued by then (those that came while
    another process held the turn too), and write them in one transaction; each waiting thread
    is woken with its answer (or its error) only once that transaction has ended."""
    batch = [me]
    try:
        try:
            with transaction.atomic():
                lock_account_writes(me.pending.task.account_id)
                batch = _take(queue, me)
                written = _write(batch)
        except Exception as exc:
            # Nothing of the batch was committed (a constraint checked at the commit fails it
            # there): each is written again alone, and a failing one answers with its own error.
            if len(batch) == 1:
                raise
            logger.warning(
                "A batch of %d callbacks failed (%s); writing each alone",
                len(batch),
                type(exc).__name__,
            )
            written = []
            for waiting in batch:
                try:
                    with transaction.atomic():
                        lock_account_writes(me.pending.task.account_id)
                        written += _write([waiting])
                except Exception as alone:  # raised in the thread that waits for it
                    waiting.error = alone
        # Committed: the counts become the callbacks' own.
        for waiting, fresh in written:
            waiting.pending.result.add(fresh.result)
    except Exception as exc:  # raised in the thread that waits for it
        me.error = exc
    finally:
        for waiting in batch[1:]:
            waiting.done.set()


def _write(batch: list[_Waiting]) -> list[tuple[_Waiting, Pending]]:
    """Write the batch, each callback on a fresh result (a failed try leaves no count behind
    for the second), and return them paired."""
    fresh = [(w, Pending(w.pending.task, w.pending.parsed, WriteResult())) for w in batch]
    # A call just ended: the tasks are active again, whatever the last poll found.
    write_looked([pending for _, pending in fresh], seen_at=timezone.now())
    return fresh
