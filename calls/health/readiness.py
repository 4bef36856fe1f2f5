"""Whether this installation can do its work, as a load balancer or an orchestrator asks it
(`/readyz/`): the database answers, the broker answers, beat has been sending the poll, and at least
one worker answers a ping.

Each check says what it found in words fit for anyone to read: never a URL, a host with its
password or an exception's text (which may quote either), only the kind of failure.

How long an answer takes: the database's own round trip, then at most
`settings.BLUDASH_READY_TIMEOUT` (1 s) for the broker and as long again for the workers' ping (which
returns at the first answer). With the broker down the ping is not tried, so a worst case is
about twice the timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from celery import current_app
from celery.beat import Scheduler
from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

# The seeded poll, by name (calls/seed.py; the top floor, so not imported from here).
POLL_TASK = "calls.tasks.poll_due_tasks"

# django-celery-beat's DatabaseScheduler writes a task's last_run_at back to the database only when
# it syncs, every Scheduler.sync_every seconds (3 minutes): the stored time may lag that much.
BEAT_SYNC_SECONDS = int(Scheduler.sync_every)
# A tick that starts a moment late is no outage.
BEAT_GRACE_SECONDS = 60


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return Check("database", False, f"does not answer ({type(exc).__name__})")
    return Check("database", True, "answers")


def check_broker() -> Check:
    timeout = settings.BLUDASH_READY_TIMEOUT
    try:
        with current_app.connection_for_read(connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=0)  # one try: a probe waits for no retry
    except Exception as exc:
        return Check("broker", False, f"does not answer ({type(exc).__name__})")
    return Check("broker", True, "answers")


def beat_allowance(every_seconds: int) -> int:
    """How long after its last run the poll may go unsent before beat is taken as stopped: one
    interval, the scheduler's write-back delay, and a minute's grace."""
    return every_seconds + BEAT_SYNC_SECONDS + BEAT_GRACE_SECONDS


def check_beat() -> Check:
    """Beat's last tick, as the time it last sent the periodic poll (PeriodicTask.last_run_at,
    which only beat writes) against the poll's interval as scheduled now (admins may edit it)."""
    from django_celery_beat.models import PeriodicTask

    try:
        poll = (
            PeriodicTask.objects.select_related("interval")
            .filter(task=POLL_TASK, enabled=True, interval__isnull=False)
            # The poll beat sent last (PostgreSQL would put a never-sent copy first).
            .order_by(F("last_run_at").desc(nulls_last=True))
            .first()
        )
    except Exception as exc:
        return Check("beat", False, f"its schedule cannot be read ({type(exc).__name__})")
    if poll is None or poll.interval is None:
        return Check("beat", False, "the poll is not in beat's schedule, or is disabled")
    if poll.last_run_at is None:
        return Check("beat", False, "beat has not sent the poll yet")
    every = int(timedelta(**{poll.interval.period: poll.interval.every}).total_seconds())
    age = int((timezone.now() - poll.last_run_at).total_seconds())
    allowed = beat_allowance(every)
    if age > allowed:
        return Check("beat", False, f"last sent the poll {age} s ago (allowed: {allowed} s)")
    return Check("beat", True, f"sent the poll {max(age, 0)} s ago")


def check_workers(broker_ok: bool = True) -> Check:
    timeout = settings.BLUDASH_READY_TIMEOUT
    if not broker_ok:
        return Check("worker", False, "not asked: the broker does not answer")
    try:
        # limit=1: the answer comes with the first worker's pong, not at the timeout.
        answers = current_app.control.ping(timeout=timeout, limit=1)
    except Exception as exc:
        return Check("worker", False, f"could not be asked ({type(exc).__name__})")
    if not answers:
        return Check("worker", False, f"no worker answered within {timeout:g} s")
    return Check("worker", True, "answers")


def readiness() -> list[Check]:
    """Every check, in the order the JSON lists them."""
    broker = check_broker()
    return [check_database(), broker, check_beat(), check_workers(broker_ok=broker.ok)]
