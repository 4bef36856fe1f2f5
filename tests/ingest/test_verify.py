"""`blu verify`, the nightly check and what the health page says of it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from calls import tasks
from calls.ingest import sync, verify
from calls.ingest.clock import db_now
from calls.models import FigureCheck, Task
from calls.seed import VERIFY_TASK_NAME


def drifted(task: Task) -> None:
    Task.objects.filter(pk=task.pk).update(calls_total=task.calls_total + 5, calls_final=0)


def test_verify_prints_drift_and_exits_2_without_changing_it(make_task, capsys):
    task = make_task(calls=6)
    sync.sync_task(task)
    drifted(task)

    with pytest.raises(CommandError) as failed:
        call_command("blu", "verify")

    assert failed.value.returncode == 2
    assert "calls_total is 11, the calls say 6" in capsys.readouterr().out
    assert Task.objects.get().calls_total == 11


def test_verify_fix_recounts_what_drifted(make_task, capsys):
    task = make_task(calls=6)
    sync.sync_task(task)
    drifted(task)

    call_command("blu", "verify", "--fix")

    assert "1 of 1 task had drifted: recounted." in capsys.readouterr().out
    assert Task.objects.get().calls_total == 6
    call_command("blu", "verify")  # and now they agree
    assert "The figures of the 1 task match their calls." in capsys.readouterr().out


def test_the_nightly_check_is_in_beats_schedule_and_repairs(make_task, db):
    nightly = PeriodicTask.objects.get(name=VERIFY_TASK_NAME)
    assert nightly.task == "calls.tasks.verify_figures" and nightly.crontab.hour == "3"
    task = make_task(calls=4)
    sync.sync_task(task)
    drifted(task)

    assert tasks.verify_figures.run() == "1 task checked, 1 drifted"
    assert Task.objects.get().calls_total == 4 and FigureCheck.objects.get().fixed


def test_the_health_page_says_when_the_figures_were_last_checked(admin_client_, make_task):
    page = admin_client_.get(reverse("calls:health")).content.decode()
    assert "Not checked yet" in page

    task = make_task(calls=4)
    sync.sync_task(task)
    drifted(task)
    tasks.verify_figures.run()

    page = admin_client_.get(reverse("calls:health")).content.decode()
    assert "1 had drifted" in page and "were recounted" in page
    assert "calls_total is 9, the calls say 4" in page


def test_a_sync_under_way_is_not_reported_for_its_median(make_task):
    task = make_task(calls=4)
    sync.sync_task(task)
    Task.objects.filter(pk=task.pk).update(
        median_talk_seconds=1,
        sync_owner="a-worker",
        sync_lease_until=db_now() + timedelta(minutes=5),
    )
    assert verify.task_drift(task) == []  # its sync recounts the median when it ends

    Task.objects.filter(pk=task.pk).update(sync_lease_until=None)
    assert any("median_talk_seconds" in line for line in verify.task_drift(task))
