"""The load balancer's probes: /healthz/ (the process answers) and /readyz/ (database, broker, beat
and a worker). Production's plain-HTTP answers are in tests/system/test_settings.py."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from bludash.celery import app
from calls.health.readiness import beat_allowance
from calls.seed import POLL_TASK_NAME


@pytest.fixture(autouse=True)
def quick_ping(settings) -> None:
    settings.BLUDASH_READY_TIMEOUT = 0.3


def beat_sent_the_poll(ago: timedelta = timedelta(seconds=10)) -> None:
    PeriodicTask.objects.filter(name=POLL_TASK_NAME).update(last_run_at=timezone.now() - ago)


def readiness(client) -> tuple[int, dict]:
    response = client.get("/readyz/")
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    return response.status_code, json.loads(response.content)


def test_healthz_answers_without_touching_the_database(client):
    # No db fixture: pytest-django fails any query this makes.
    response = client.get("/healthz/")

    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok"}


def test_probes_create_no_session_and_need_no_sign_in(client, db):
    beat_sent_the_poll()
    for path in ("/healthz/", "/readyz/"):
        response = client.get(path)
        assert response.status_code in (200, 503)
        assert not response.cookies
    assert "sessionid" not in client.cookies


def test_probes_are_not_rate_limited(client, settings):
    settings.BLUDASH_CALLBACK_RATE_PER_MINUTE = 1
    assert {client.get("/healthz/").status_code for _ in range(100)} == {200}


def test_probes_refuse_anything_but_get(client):
    response = client.post("/healthz/")
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"


def test_without_a_worker_readyz_answers_503_naming_the_worker(client, db):
    beat_sent_the_poll()

    started = time.monotonic()
    status, body = readiness(client)

    assert time.monotonic() - started < 2
    assert status == 503
    assert body["ready"] is False and body["failing"] == ["worker"]
    assert body["checks"]["worker"] == {"ok": False, "detail": "no worker answered within 0.3 s"}
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
    assert body["checks"]["beat"]["ok"]


def test_a_beat_that_stopped_sending_the_poll_is_named(client, db):
    late = timedelta(seconds=beat_allowance(300) + 5)
    beat_sent_the_poll(ago=late)

    status, body = readiness(client)

    assert status == 503 and "beat" in body["failing"]
    assert body["checks"]["beat"]["detail"].startswith(f"last sent the poll {late.seconds} s ago")


def test_the_allowance_is_the_polls_interval_as_scheduled_now(client, db):
    poll = PeriodicTask.objects.get(name=POLL_TASK_NAME)
    poll.interval.every = 3600
    poll.interval.save()
    beat_sent_the_poll(ago=timedelta(seconds=beat_allowance(300) + 5))

    _, body = readiness(client)

    assert body["checks"]["beat"]["ok"]


def test_a_beat_that_never_ran_is_named(client, db):
    status, body = readiness(client)

    assert status == 503 and "beat" in body["failing"]
    assert body["checks"]["beat"]["detail"] == "beat has not sent the poll yet"


def test_a_disabled_poll_is_named(client, db):
    beat_sent_the_poll()
    PeriodicTask.objects.filter(name=POLL_TASK_NAME).update(enabled=False)

    _, body = readiness(client)

    assert "beat" in body["failing"]
    assert "not in beat's schedule, or is disabled" in body["checks"]["beat"]["detail"]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_with_a_worker_on_redis_and_beat_on_time_readyz_answers_200(client, settings):
    settings.BLUDASH_READY_TIMEOUT = 2.0
    beat_sent_the_poll()

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        started = time.monotonic()
        status, body = readiness(client)
        took = time.monotonic() - started

    assert status == 200, body
    assert body["ready"] is True and body["failing"] == []
    assert {name for name, check in body["checks"].items() if check["ok"]} == {
        "database",
        "broker",
        "beat",
        "worker",
    }
    # The ping returns at the first worker's answer, well before its timeout.
    assert took < 1.5


def test_a_failing_probe_is_logged_once_per_outage_and_never_emailed(client, db, settings, caplog):
    # A load balancer probes every few seconds: an error line (and the email Django sends the
    # admins for every 5xx) per probe would bury everything else.
    settings.ADMINS = [("Ops", "ops@example.com")]
    assert client.get("/readyz/").status_code == 503  # beat has not run: another outage
    beat_sent_the_poll()
    caplog.clear()

    with caplog.at_level(logging.INFO):
        statuses = [client.get("/readyz/").status_code for _ in range(3)]

    assert statuses == [503, 503, 503]
    assert mail.outbox == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "Not ready: worker" in warning.getMessage()


def test_a_second_poll_row_that_never_ran_does_not_hide_the_one_beat_sends(client, db):
    # An admin's copy of the poll in beat's schedule, not yet sent: PostgreSQL sorts a missing
    # time first when newest-first is asked for.
    poll = PeriodicTask.objects.get(name=POLL_TASK_NAME)
    PeriodicTask.objects.create(name="Poll again", task=poll.task, interval=poll.interval)
    beat_sent_the_poll()

    _, body = readiness(client)

    assert body["checks"]["beat"]["ok"], body
