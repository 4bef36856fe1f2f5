"""Leases and due times on the database's clock: an application server whose own clock runs
ahead must not take a lease another worker still holds, nor find a queued task due early."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from calls.ingest import lease, polling
from calls.ingest.clock import db_now
from calls.models import Task


@pytest.fixture
def clock_ahead(monkeypatch):
    """This machine's clock an hour ahead of the database's (Django's clock, not ours)."""
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(hours=1))


def test_the_database_clock_is_read_from_the_database(db, clock_ahead):
    assert abs(db_now() - (timezone.now() - timedelta(hours=1))) < timedelta(minutes=1)


def test_a_machine_whose_clock_runs_ahead_cannot_take_a_live_lease(make_task, clock_ahead):
    task = make_task(calls=0)
    Task.objects.filter(pk=task.pk).update(
        sync_owner="another-worker", sync_lease_until=db_now() + timedelta(minutes=5)
    )

    assert not lease.claim(task.pk, "this-worker")
    assert Task.objects.get(pk=task.pk).sync_owner == "another-worker"
    assert 200 < lease.lease_seconds_left(task.pk) <= 300


def test_a_queued_task_is_not_due_early_on_a_machine_ahead(make_task, clock_ahead):
    task = make_task(calls=0)
    assert polling.take_due_tasks() == [task.pk]  # queued until the database's now + 15 min

    assert polling.due_task_ids() == []
