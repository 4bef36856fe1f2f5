"""The upsert's own guard, tested on the statement itself (on SQLite here, on PostgreSQL in CI):
the checks before it cannot see a writer that inserted the same call a moment earlier, so the
statement's WHERE clause is the last word. Deleting either half of it fails one of these."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from calls.blu.records import read_record
from calls.ingest.upsert import upsert_calls
from calls.models import CallRecord, Task
from tests.helpers import BLU_EXAMPLE


def fields_of(task: Task, **changes) -> dict:
    fields = read_record({**BLU_EXAMPLE, **changes}, task.account.zone)
    now = timezone.now()
    return {
        **fields,
        "account_id": task.account_id,
        "task_id": task.pk,
        "borrower_id": None,
        "first_seen_at": now,
        "last_changed_at": now,
    }


def write(row: dict) -> None:
    with transaction.atomic():
        upsert_calls([row])


def test_an_in_progress_record_never_replaces_a_final_one_at_the_statement(make_task):
    task = make_task(calls=0)
    write(fields_of(task))  # final: PTP with an end time
    write(fields_of(task, code="", endTime="", duration=None))  # a stale in-progress page

    call = CallRecord.objects.get()
    assert call.code == "PTP" and call.end_time is not None and call.duration == 40


def test_a_racing_duplicate_rewrites_nothing_at_the_statement(make_task):
    task = make_task(calls=0)
    first = fields_of(task)
    write(first)
    stored = CallRecord.objects.get()

    later = {**fields_of(task), "last_changed_at": timezone.now() + timedelta(hours=1)}
    later["name"] = "changed without its hash changing"  # same content_hash: the same record
    write(later)

    call = CallRecord.objects.get()
    assert call.last_changed_at == stored.last_changed_at and call.name == stored.name


def test_a_changed_final_record_does_replace_a_final_one(make_task):
    task = make_task(calls=0)
    write(fields_of(task))
    write(fields_of(task, code="AP", desc="Already paid"))

    assert CallRecord.objects.get().code == "AP"
