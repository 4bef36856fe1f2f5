"""Celery tasks: thin wrappers that take ids, load rows and call the plain functions in
calls/ingest/, calls/health/ (the admins' failure email), calls/exports/ and calls/promises/
(the rebuild after a code is reclassified), and the one place
that queues them
(plain functions never import this module; the alert reaches it by a signal).

Stays at calls.tasks: beat's rows and queued messages store these dotted names.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.dispatch import receiver
from django.template.defaultfilters import pluralize

from calls.blu.client import BluPermanentError, BluTaskUnknown, BluTemporaryError
from calls.contact import complaints
from calls.exports import expiry, jobs
from calls.health import alerts
from calls.ingest import borrower_backfill, borrowers, lease, polling, reread, sync, verify
from calls.limits import breaches as limit_breaches
from calls.models import BluAccount, Conclusion, ExportJob, Task
from calls.promises import ledger
from calls.review import sample as review_sample
from calls.security.crypto import AppKeyUnreadable

logger = logging.getLogger(__name__)


def retry_delay(retries: int) -> int:
    """Seconds before retry n+1: doubling from 15 s, capped far below the broker's visibility
    timeout (an hour on Redis), so a delayed message is never handed to a second worker."""
    return min(settings.BLUDASH_TASK_RETRY_MAX_DELAY, 15 * 2**retries)


# A dropped or refused database connection (a restart, a failover, a killed backend): worth
# another try. Other database errors are bugs or bad data that a retry would only repeat.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


@shared_task(bind=True, max_retries=5)
def sync_task(self, task_pk: int, trigger: str = "poll") -> str:
    """Sync one task. Temporary Blu errors and a lost database connection retry with backoff;
    the run records every failure."""
    try:
        task = Task.objects.select_related("account").filter(pk=task_pk).first()
        if task is None:
            return "gone"
        run = sync.sync_task(task, trigger=trigger)
    except lease.SyncBusy:
        if (self.request.delivery_info or {}).get("redelivered"):
            # Requeued because its worker died mid-sync: the lease that makes the task busy is
            # most likely the dead worker's. Try again once it has run out (one retry: the new
            # message is no redelivery, so a lease a live worker renews ends it as "busy").
            countdown = math.ceil(lease.lease_seconds_left(task_pk)) + 1
            raise self.retry(countdown=countdown) from None
        return "busy"
    except (BluTemporaryError, lease.LeaseLost, *DATABASE_UNAVAILABLE) as exc:
        # The retry does not inherit a broken connection: Celery's Django fixup closes the
        # database connections before and after every task.
        raise self.retry(exc=exc, countdown=retry_delay(self.request.retries)) from None
    except (BluPermanentError, AppKeyUnreadable) as exc:
        assert task is not None  # only the sync raises these
        _log_refusal(task, exc)
        return "failed"  # recorded on the run and the task for people to see
    return f"ok: {run.pages} page{pluralize(run.pages)}, {run.created} new, {run.changed} changed"


def _log_refusal(task: Task, exc: BluPermanentError | AppKeyUnreadable) -> None:
    """Celery logs a job that returned as a success: say in the worker's log that the sync failed
    for good, and why (Blu's words, or which account's key would not open; never the key)."""
    reason = str(exc)  # Blu's endpoint, HTTP status, code and message; or the account's name
    if isinstance(exc, BluTaskUnknown):
        # Asked again later, then no longer polled (calls/ingest/unknown_tasks.py): a callback
        # may name any number of such tasks, and none needs anyone to act.
        logger.warning(
            "Sync of task %s (%s) of account %s: Blu does not know it: %s",
            task.blu_task_id,
            task,
            task.account,
            reason,
        )
        return
    logger.error(
        "Sync of task %s (%s) of account %s failed and will not be retried: %s",
        task.blu_task_id,
        task,
        task.account,
        reason,
    )


@shared_task
def reread_account(account_pk: int) -> str:
    """Re-read an account's stored calls (after its time zone changed): from where a stopped
    run left off, to the end."""
    account = BluAccount.objects.filter(pk=account_pk).first()
    if account is None:
        return "gone"
    result = reread.run_reread(account)
    return f"re-read {result.read} call{pluralize(result.read)}, {result.changed} changed"


@shared_task
def verify_figures() -> str:
    """The nightly check: every task's figures against a recount of its calls, drift repaired
    and recorded (the health page shows the latest check)."""
    check = verify.verify_figures(fix=True)
    if check.tasks_drifted or check.accounts_drifted:
        logger.error(
            "%d of %d tasks' figures (and %d accounts' day totals) had drifted and were "
            "recounted: %s",
            check.tasks_drifted,
            check.tasks_checked,
            check.accounts_drifted,
            "; ".join(check.drift[:5]),
        )
    checked = check.tasks_checked
    return f"{checked} task{pluralize(checked)} checked, {check.tasks_drifted} drifted"


@shared_task
def refresh_borrower_counts() -> int:
    """Every few minutes: the borrowers whose calls in the last 7 days dropped since their last
    count (calls/ingest/borrowers.py), recounted for the list's sort."""
    return borrowers.refresh_expired()


@shared_task
def poll_due_tasks() -> int:
    """The periodic job: retire tasks beyond Blu's window, queue a sync of every polled task."""
    retired = polling.retire_old_tasks()
    if retired:
        logger.info("Stopped polling %d tasks older than Blu's query window", retired)
    due = polling.take_due_tasks()
    for task_pk in due:
        enqueue_sync(task_pk, trigger="poll")
    return len(due)


def enqueue_sync(task_pk: int, trigger: str = "poll") -> None:
    """Queue a sync of one task; a broker that is down is logged, not raised."""
    try:
        # No publish retries: a callback must answer Blu quickly even with the broker down.
        sync_task.apply_async((task_pk, trigger), retry=False)
    except Exception as exc:  # broker down: the next poll picks the task up anyway
        logger.warning("Could not queue a sync of task %s (%s); the next poll will", task_pk, exc)


def enqueue_sync_on_commit(task_pk: int, trigger: str = "new") -> None:
    """Queue a sync of a task once the caller's transaction commits (at once outside one): a
    worker must find the task it is asked to sync."""
    transaction.on_commit(lambda: enqueue_sync(task_pk, trigger=trigger))


@shared_task
def email_failure_alert(account_pk: int, claimed_at: str) -> str:
    """Email the admins that an account keeps failing: the email a sync claimed."""
    sent = alerts.send_failure_alert(account_pk, datetime.fromisoformat(claimed_at))
    return "sent" if sent else "not sent"


@receiver(alerts.failure_alert_due, dispatch_uid="calls.tasks.queue_failure_alert")
def queue_failure_alert(sender, account_id: int, claimed_at: datetime, **kwargs) -> None:
    """Queue the email a sync has claimed, once the claim is committed (the job sends only while
    the claim stands)."""

    def enqueue() -> None:
        try:
            email_failure_alert.apply_async((account_id, claimed_at.isoformat()), retry=False)
        except Exception as exc:  # broker down: the claim goes back, the next failure retries
            logger.error("Could not queue the failure email of account %s (%s)", account_id, exc)
            alerts.release_claim(account_id, claimed_at)

    transaction.on_commit(enqueue)


def enqueue_reread_on_commit(account_pk: int) -> None:
    """Queue a re-read of an account's calls once the caller's transaction commits."""

    def enqueue() -> None:
        try:
            reread_account.apply_async((account_pk,), retry=False)
        except Exception as exc:  # broker down: `manage.py blu reread` does the same by hand
            logger.warning("Could not queue the re-read of account %s (%s)", account_pk, exc)

    transaction.on_commit(enqueue)


@shared_task
def relink_borrowers(account_pk: int) -> str:
    """After an account's borrower keys changed: its stored calls linked by the new keys."""
    account = BluAccount.objects.filter(pk=account_pk).first()
    if account is None:
        return "account gone"
    result = borrower_backfill.backfill(account, relink=True)
    return f"{result.read} calls read, {result.borrowers} borrowers touched"


@shared_task
def recheck_contact_limits(account_pk: int) -> str:
    """Flag an account's calls again against its contact limits (after an admin changed them)."""
    account = BluAccount.objects.filter(pk=account_pk).first()
    if account is None:
        return "no such account"
    return f"{limit_breaches.recheck(account)} borrowers rechecked"


def enqueue_limits_recheck_on_commit(account_pk: int) -> None:
    """Queue flagging an account's calls again once the caller's transaction commits."""

    def enqueue() -> None:
        try:
            recheck_contact_limits.apply_async((account_pk,), retry=False)
        except Exception as exc:  # broker down: `manage.py blu limits recheck`
            logger.warning(
                "Could not queue rechecking the contact limits of account %s (%s)", account_pk, exc
            )

    transaction.on_commit(enqueue)


def enqueue_borrower_relink_on_commit(account_pk: int) -> None:
    """Queue relinking an account's calls to borrowers once the caller's transaction commits."""

    def enqueue() -> None:
        try:
            relink_borrowers.apply_async((account_pk,), retry=False)
        except Exception as exc:  # broker down: `manage.py blu borrowers backfill --relink`
            logger.warning(
                "Could not queue relinking the borrowers of account %s (%s)", account_pk, exc
            )

    transaction.on_commit(enqueue)


@shared_task(bind=True)
def export_calls(self, job_pk: int) -> str:
    """Build one background export (on the exports queue: calls.tasks.export_*). Not retried: a
    failure is recorded on the job for its requester, who exports again."""
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    job = jobs.run(job_pk, redelivered=redelivered)
    if job is None:
        return "not queued"
    return f"{job.state}: {job.rows_written} row{pluralize(job.rows_written)}"


@shared_task
def expire_exports() -> str:
    """The periodic clean-up: expired export files removed, jobs that never finished failed."""
    result = expiry.remove_expired()
    return f"{result.removed} removed, {result.abandoned} given up"


QUEUE_DOWN = (
    "The export could not be queued: the job queue is not answering. Try again in a minute."
)


def enqueue_export_on_commit(job_pk: int) -> None:
    """Queue a job's build once the job is committed; a broker that is down fails the job, so
    its page says so at once instead of waiting for ever."""

    def enqueue() -> None:
        try:
            export_calls.apply_async((job_pk,), retry=False)
        except Exception as exc:
            logger.error("Could not queue export job %s (%s)", job_pk, exc)
            ExportJob.objects.filter(pk=job_pk, state=ExportJob.State.QUEUED).update(
                state=ExportJob.State.FAILED, error=QUEUE_DOWN
            )

    transaction.on_commit(enqueue)


@shared_task
def rebuild_promises() -> str:
    """After a code's promise-to-pay or already-paid flag changed: every account's promises made
    again from its calls (`blu promises rebuild` by hand). Each batch is its own transaction
    under the account's write turn, so syncs go on meanwhile; a second rebuild queued by a second
    change repeats the work and changes nothing more."""
    read = ledger.rebuild_all()
    return ", ".join(f"{name}: {calls} read" for name, calls in read.items()) or "no accounts"


@shared_task
def rebuild_complaints() -> str:
    """After a code's complaint flag changed: every account's calls of complaint codes, and every
    call with a complaint, followed again (complaints.rebuild), in batches under the account's
    write turn. A code flagged opens its calls' complaints (and the managers' email); a code
    unflagged removes only the complaints nobody acted on, as a correction would: one assigned,
    noted, acknowledged or resolved stays as it is, and none is resolved on anyone's behalf."""
    done = []
    for account in BluAccount.objects.order_by("pk"):
        done.append(f"{account.name}: {complaints.rebuild(account)} read")
    return ", ".join(done) or "no accounts"


@shared_task
def recheck_all_contact_limits() -> str:
    """After a code's right-party flag changed: every account's calls flagged again against its
    contact limits, and each borrower's last right-party call recounted (`blu limits recheck`
    by hand): the hold-off after a conversation starts at a right-party call."""
    done = []
    for account in BluAccount.objects.order_by("pk"):
        done.append(f"{account.name}: {limit_breaches.recheck(account)} borrowers rechecked")
    return ", ".join(done) or "no accounts"


# Which stored work each flag feeds, what to run by hand if the broker is down, and the job.
# A code's calls keep their code: only these, made from the flags, must follow a change.
_REBUILDS = (
    ("promises", set(ledger.PROMISE_FLAGS), "blu promises rebuild", rebuild_promises),
    ("complaints", {"complaint"}, "blu complaints rebuild", rebuild_complaints),
    ("contact limits", {"right_party"}, "blu limits recheck", recheck_all_contact_limits),
)


def rebuilds_for(changed: Iterable[tuple[Conclusion, Collection[str]]]) -> list[str]:
    """The rebuilds that codes' changes need, by name (as in _REBUILDS), for codes each given
    with the names of its fields that changed (those set, for a code deleted). Only classified
    right-party codes count as right party (limits.breaches.right_party_codes): classifying or
    unclassifying a code that carries the flag changes them too."""
    wanted: set[str] = set()
    for conclusion, fields in changed:
        fields = set(fields)
        if conclusion.right_party and "classified" in fields:
            fields.add("right_party")
        wanted |= {name for name, flags, _, _ in _REBUILDS if fields & flags}
    return [name for name, *_ in _REBUILDS if name in wanted]


def enqueue_rebuilds_on_commit(changed: Iterable[tuple[Conclusion, Collection[str]]]) -> None:
    """Queue, once the reclassification commits (the jobs must read the new flags), the rebuild
    of what the changed flags feed: promises, complaints, contact limits. A broker that is down
    is logged, saying what to run instead."""
    names = rebuilds_for(changed)
    if not names:
        return

    def enqueue() -> None:
        for name, _, by_hand, job in _REBUILDS:
            if name not in names:
                continue
            try:
                job.apply_async(retry=False)
            except Exception as exc:
                logger.error(
                    "Could not queue the rebuild of the %s after a code was reclassified (%s): "
                    "run `manage.py %s`",
                    name,
                    exc,
                    by_hand,
                )

    transaction.on_commit(enqueue)


@shared_task
def email_new_complaints() -> str:
    """Email the managers the complaints not emailed yet (queued by each write that opens one,
    and run periodically for any whose email was lost)."""
    told = complaints.send_new_complaints()
    return f"{told} complaint{pluralize(told)} emailed"


@shared_task
def draw_review_sample() -> str:
    """Once a day, after midnight in the company's zone: yesterday's calls to review (a draw the
    managers made during the day is topped up, nothing drawn twice)."""
    drawn = review_sample.draw(review_sample.today() - timedelta(days=1))
    return f"{drawn.day}: {drawn.added} call{pluralize(drawn.added)} drawn, {drawn.total} in all"


@receiver(complaints.complaint_opened, dispatch_uid="calls.tasks.queue_complaint_email")
def queue_complaint_email(sender, complaint_ids: list[int], **kwargs) -> None:
    """Queue the managers' email once the write that opened the complaints commits."""

    def enqueue() -> None:
        try:
            email_new_complaints.apply_async(retry=False)
        except Exception as exc:  # broker down: the periodic job sends it
            logger.warning(
                "Could not queue the email of %d complaints (%s)", len(complaint_ids), exc
            )

    transaction.on_commit(enqueue)
