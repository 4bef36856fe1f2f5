"""Prometheus' scrape: refused without the token, and figures that match what happened."""

from __future__ import annotations

import math
import secrets
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from calls.ingest import sync
from calls.models import SyncRun, Task
from tests.helpers import BLU_EXAMPLE, fail_syncs, post_callback

TOKEN = secrets.token_urlsafe(32)
RECORD = {**BLU_EXAMPLE, "recordUrl": ""}


@pytest.fixture
def token(settings) -> str:
    settings.BLUDASH_METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client, token: str = TOKEN):
    return client.get("/metrics", headers={"Authorization": f"Bearer {token}"})


def samples(client) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape, by name and labels."""
    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[sample.name, frozenset(sample.labels.items())] = sample.value
    return found


def labels(**values: str) -> frozenset:
    return frozenset(values.items())


def test_without_a_token_configured_there_are_no_metrics(client, db, settings):
    settings.BLUDASH_METRICS_TOKEN = ""
    assert scrape(client, "anything").status_code == 404


def test_a_scrape_without_a_token_is_asked_for_one(client, db, token):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", [f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", "Bearer wrong"])
def test_a_wrong_token_is_refused(client, db, token, header):
    response = client.get("/metrics", headers={"Authorization": header})
    assert response.status_code == 403
    assert TOKEN not in response.content.decode()


def test_a_basic_login_is_no_token(client, db, token):
    response = client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
    assert response.status_code == 401


def test_the_figures_match_the_syncs_and_callbacks(client, token, make_task, sandbox, account):
    retired = make_task("66547750", calls=3)
    sync.sync_task(retired)
    Task.objects.filter(pk=retired.pk).update(is_polled=False)
    quiet = make_task("66547749", calls=0)
    task = make_task(calls=9)
    sync.sync_task(task)
    fail_syncs(sandbox, task, times=2, message="internal error")
    # One sync took 90 s, start to end.
    run = SyncRun.objects.filter(task=task, outcome="ok").get()
    SyncRun.objects.filter(pk=run.pk).update(finished_at=run.started_at + timedelta(seconds=90))

    assert post_callback(client, account, {"taskId": 66547748, "records": [RECORD]}).status_code
    post_callback(client, account, {"taskId": 66547748, "records": [RECORD]})
    assert post_callback(client, account, b"{not json").status_code == 400
    assert post_callback(client, account, b"{}", token="no-such-token").status_code == 404

    found = samples(client)

    at = labels(account="collections", task="66547748")
    assert found["bludash_syncs_total", at | labels(outcome="ok")] == 1
    assert found["bludash_syncs_total", at | labels(outcome="failed")] == 2
    assert found["bludash_records_created_total", at] == 9
    assert found["bludash_records_changed_total", at] == 0
    assert found["bludash_task_consecutive_failures", at] == 2
    task.refresh_from_db()
    age = found["bludash_task_last_success_age_seconds", at]
    assert 0 <= age <= (timezone.now() - task.last_success_at).total_seconds() + 1
    never = labels(account="collections", task=quiet.blu_task_id)
    assert math.isinf(found["bludash_task_last_success_age_seconds", never])
    # Only polled tasks have series of their own.
    assert not [key for key in found if ("task", retired.blu_task_id) in key[1]]

    acct = labels(account="collections")
    assert found["bludash_account_consecutive_failures", acct] == 2
    # Four finished syncs of the account: three quick, one of 90 s.
    assert found["bludash_sync_duration_seconds_count", acct] == 4
    assert found["bludash_sync_duration_seconds_bucket", acct | labels(le="60.0")] == 3
    assert found["bludash_sync_duration_seconds_bucket", acct | labels(le="120.0")] == 4
    assert 90 <= found["bludash_sync_duration_seconds_sum", acct] < 100

    assert found["bludash_callbacks_received_total", acct] == 3
    assert found["bludash_callbacks_refused_total", acct | labels(reason="bad_body")] == 1
    unknown = labels(account="(none)", reason="unknown_token")
    assert found["bludash_callbacks_refused_total", unknown] == 1
    assert found["bludash_callback_counts_up", frozenset()] == 1

    assert found["bludash_broker_up", frozenset()] == 1
    assert found["bludash_broker_queue_length", labels(queue="celery")] >= 0


def test_the_scrape_names_no_secret(client, token, make_task, account):
    from tests.helpers import APP_KEY

    sync.sync_task(make_task(calls=3))
    text = scrape(client).content.decode()
    assert APP_KEY not in text and account.callback_token not in text and TOKEN not in text


def test_callbacks_refused_are_counted_by_reason(client, token, account, settings):
    # Over the size limit, then accepted, then over the rate (every callback counts toward it).
    settings.BLUDASH_CALLBACK_RATE_PER_MINUTE = 2
    body = {"taskId": 66547748, "records": [RECORD]}
    assert post_callback(client, account, b"x" * 300_000).status_code == 413
    assert post_callback(client, account, body).status_code == 200
    assert post_callback(client, account, body).status_code == 429

    found = samples(client)

    acct = labels(account="collections")
    assert found["bludash_callbacks_received_total", acct] == 3
    assert found["bludash_callbacks_refused_total", acct | labels(reason="too_large")] == 1
    assert found["bludash_callbacks_refused_total", acct | labels(reason="rate_limited")] == 1
    assert ("bludash_callbacks_refused_total", acct | labels(reason="bad_body")) not in found
