"""Blu's dial-result callback: strict at the door, idempotent behind it."""

import json
import logging
import time

import pytest
from django.urls import reverse

from calls.models import CallRecord, Task

from .conftest import BLU_EXAMPLE

RECORD = {**BLU_EXAMPLE, "recordUrl": ""}


def post(client, account, body, token=None):
    url = reverse("calls:blu_callback", kwargs={"token": token or account.callback_token})
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json")


def test_a_callback_stores_the_record_and_creates_its_task(client, account):
    response = post(client, account, {"taskId": 66547748, "records": [RECORD]})

    assert response.status_code == 200
    call = CallRecord.objects.get()
    assert call.call_id == "123654" and call.code == "PTP" and call.duration == 40
    assert call.task == Task.objects.get(account=account, blu_task_id="66547748")


def test_the_same_record_delivered_six_times_leaves_one_record(client, account):
    for _ in range(6):
        assert post(client, account, {"taskId": "66547748", "records": [RECORD]}).status_code == 200

    assert CallRecord.objects.count() == 1
    assert Task.objects.count() == 1


def test_a_changed_record_is_updated_in_place(client, account):
    post(client, account, {"taskId": 66547748, "records": [{**RECORD, "code": "", "endTime": ""}]})
    post(client, account, {"taskId": 66547748, "records": [RECORD]})

    call = CallRecord.objects.get()
    assert call.code == "PTP" and call.end_time is not None


def test_a_wrong_token_gets_404_and_stores_nothing(client, account):
    response = post(client, account, {"taskId": 1, "records": [RECORD]}, token="not-a-token")
    assert response.status_code == 404
    assert not CallRecord.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        {"records": [RECORD]},
        {"taskId": 66547748},
        {"taskId": 66547748, "records": []},
        {"taskId": 66547748, "records": ["a string"]},
        {"taskId": True, "records": [RECORD]},
        {"taskId": 66547748, "records": [RECORD, {**RECORD, "callId": None}]},
        {"taskId": 1, "records": [RECORD]},  # the record names another task
    ],
)
def test_a_body_not_of_the_contracts_shape_gets_400_and_stores_nothing(client, account, body):
    response = post(client, account, body)

    assert response.status_code == 400
    assert response.json()["message"]
    assert not CallRecord.objects.exists() and not Task.objects.exists()


def test_a_record_with_an_unreadable_field_is_kept_with_the_problem_named(client, account):
    response = post(
        client, account, {"taskId": 66547748, "records": [{**RECORD, "startTime": "soon"}]}
    )

    assert response.status_code == 200
    call = CallRecord.objects.get()
    assert call.start_time is None and call.raw["startTime"] == "soon"
    assert call.problems == ["startTime is not YYYY-MM-DD HH:MM:SS: 'soon'"]


def test_an_oversized_body_is_refused(client, account, settings):
    settings.BLUDASH_CALLBACK_MAX_BYTES = 2048
    body = {"taskId": 66547748, "records": [{**RECORD, "name": "x" * 4096}]}
    assert post(client, account, body).status_code == 413
    assert not CallRecord.objects.exists()


def test_only_post_is_accepted(client, account):
    url = reverse("calls:blu_callback", kwargs={"token": account.callback_token})
    assert client.get(url).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_delivers_callbacks_as_calls_end(sandbox, make_task, live_server):
    from calls.models import BluAccount

    account = BluAccount.objects.get()
    url = live_server.url + reverse("calls:blu_callback", kwargs={"token": account.callback_token})
    sandbox.set_callback_url("10001", url)
    task = make_task(task_id="66547749", calls=6, minutes_ago=0, pace=5)

    sandbox.advance(3600)  # every call ends; the sandbox posts each one

    def delivered():
        return CallRecord.objects.filter(task=task, end_time__isnull=False).count()

    deadline = time.monotonic() + 15
    while delivered() < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert delivered() == 6


def test_the_callback_token_never_reaches_the_logs(client, account, caplog):
    caplog.set_level(logging.DEBUG)
    post(client, account, b"not json")
    assert "Bad Request: /blu/callback/[token]/" in caplog.text
    assert account.callback_token not in caplog.text
