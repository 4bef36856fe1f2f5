"""Review of the callback, the audit trail and the record reader: what a hostile caller of the
callback URL, a flaky Blu or an auditor would run into."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import pytest
import responses
from django.test import override_settings
from django.urls import reverse

from calls.audit import trail
from calls.ingest import page_writer
from calls.models import AuditEvent, CallRecord, Task

from .conftest import BLU_EXAMPLE, PASSWORD

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'
FAKE_BLU = "https://blu.example/download/v1/getDownloadUrl/SECRETTOKEN="
AUDIO = bytes(range(256)) * 40


def test_hostile_text_in_the_audit_log_shows_as_text_to_admins(client, admin_user):
    client.post(reverse("login"), {"username": SCRIPT, "password": PASSWORD})
    trail.record(
        trail.Action.EXPORT,
        user=admin_user,
        target="calls",
        format="csv",
        filter=urlencode({"q": SCRIPT}) + "&" + "q2=" + SCRIPT,
        rows=1,
        complete=True,
    )
    client.force_login(admin_user)
    changelist = reverse("admin:calls_auditevent_changelist")
    pages = [client.get(changelist).content.decode()]
    for event in AuditEvent.objects.all():
        pages.append(
            client.get(reverse("admin:calls_auditevent_change", args=[event.pk])).content.decode()
        )
    assert AuditEvent.objects.filter(username=SCRIPT).exists()
    for page in pages:
        assert "<script>alert" not in page and "<img src=x" not in page


@pytest.fixture
def recorded_call(account, settings) -> CallRecord:
    settings.BLUDASH_RECORDING_HOSTS = ["blu.example"]
    task = Task.objects.create(account=account, blu_task_id="777")
    return CallRecord.objects.create(
        account=account, task=task, call_id="c1", record_url=FAKE_BLU, raw={}, content_hash="x"
    )


def fetch(client, call: CallRecord, range_header: str) -> bytes:
    url = reverse("calls:call_recording", args=[call.pk])
    response = client.get(url, headers={"Range": range_header})
    assert response.status_code in (200, 206)
    return b"".join(response.streaming_content)


def plays() -> int:
    return AuditEvent.objects.filter(action=AuditEvent.Action.RECORDING_PLAYED).count()


@responses.activate
def test_a_recording_fetched_from_its_second_byte_is_still_a_play(staff_client, recorded_call):
    # Blu ignores ranges: the view cuts them itself.
    responses.get(
        FAKE_BLU, body=AUDIO, headers={"Content-Length": str(len(AUDIO))}, content_type="audio/wav"
    )
    heard = fetch(staff_client, recorded_call, "bytes=1-")
    assert heard == AUDIO[1:]
    assert plays() == 1


@responses.activate
def test_a_recording_blu_sends_in_several_ranges_at_once_is_a_play(staff_client, recorded_call):
    # Blu serves a multi-range request itself: one multipart answer holding the whole file.
    responses.get(
        FAKE_BLU,
        body=b"--B\r\nContent-Range: bytes 0-0/10240\r\n\r\n" + AUDIO[:1] + b"\r\n--B--",
        status=206,
        content_type="multipart/byteranges; boundary=B",
    )
    fetch(staff_client, recorded_call, "bytes=0-0,1-")
    assert plays() == 1


@responses.activate
def test_safaris_probe_then_its_play_make_one_event(staff_client, recorded_call):
    responses.get(
        FAKE_BLU, body=AUDIO, headers={"Content-Length": str(len(AUDIO))}, content_type="audio/wav"
    )
    fetch(staff_client, recorded_call, "bytes=0-1")  # Safari asks for two bytes first
    fetch(staff_client, recorded_call, "bytes=0-")
    fetch(staff_client, recorded_call, "bytes=5000-")
    assert plays() == 1


def test_a_record_with_thousands_of_broken_fields_gets_a_short_list_of_problems(account):
    task = Task.objects.create(account=account, blu_task_id="66547748")
    long_key = "k" * 10_000
    record = {
        **BLU_EXAMPLE,
        **{f"extra{n}": "nul\x00" for n in range(2000)},
        long_key: "nul\x00",
    }

    result = page_writer.store_records(task, [record])

    call = CallRecord.objects.get()
    assert result.created == 1 and len(call.raw) == len(record)  # kept whole
    assert 1 < len(call.problems) <= 20
    assert all(len(problem) <= 200 for problem in call.problems)
    assert "more" in call.problems[-1]  # says that it stopped listing


def test_a_csv_export_is_on_record_once_its_first_bytes_leave(manager_client, account):
    # Whether its end is ever heard or not: a worker killed at its timeout runs no `finally`.
    task = Task.objects.create(account=account, blu_task_id="66547748")
    for n in range(3):
        CallRecord.objects.create(
            account=account, task=task, call_id=f"e{n}", raw={}, content_hash="x"
        )
    response = manager_client.get(
        reverse("calls:call_list"), {"started_after": "", "_export": "csv"}
    )
    pieces = iter(response.streaming_content)

    next(pieces)  # the header has left

    [event] = AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT)
    assert event.details == {
        "format": "csv",
        "filter": "started_after=",
        "rows": 0,
        "complete": False,
    }
    b"".join(pieces)  # to the end (the test client closes the response)
    event.refresh_from_db()
    assert event.details["rows"] == 3 and event.details["complete"] is True
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).count() == 1


def test_a_callback_posted_without_its_trailing_slash_logs_no_token(client, account, caplog):
    client.raise_request_exception = False
    caplog.set_level(logging.DEBUG)
    url = reverse("calls:blu_callback", kwargs={"token": account.callback_token}).rstrip("/")
    with override_settings(DEBUG=True):  # Django refuses to redirect a POST, naming the URL
        response = client.post(url, "{}", content_type="application/json")
    assert response.status_code == 500
    assert account.callback_token not in caplog.text
