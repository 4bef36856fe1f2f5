"""The audit trail of what leaves the dashboard: each export (its format, filters and row count)
and each recording played, written by the views as people use them; and the audit log admins
read, where what was recorded shows as text."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

import pytest
import responses
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.urls import reverse

from calls.audit import trail
from calls.models import AuditEvent, CallRecord, ExportJob
from calls.security import roles
from tests.helpers import FAKE_BLU, PASSWORD, make_call, make_calls, run_background_export

CALLS = reverse("calls:call_list")
AUDIO = bytes(range(256)) * 40  # 10,240 bytes
SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def exports() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT))


# --- exports -------------------------------------------------------------------------------------


def test_a_csv_export_is_recorded_with_its_filters_and_rows_once_the_stream_ends(
    manager_client, manager, bare_task
):
    make_calls(bare_task, 30)
    CallRecord.objects.filter(duration__lt=12).update(code="PTP")

    response = manager_client.get(CALLS, {"code": "PTP", "sort": "-duration", "_export": "csv"})

    assert exports() == []  # nothing is sent yet: the rows are read as the file streams
    b"".join(response.streaming_content)
    [event] = exports()
    assert event.user == manager and event.username == "manager"
    assert event.ip == "127.0.0.1"
    assert event.details["format"] == "csv"
    assert event.details["rows"] == 12 and event.details["complete"] is True
    filters = parse_qs(event.details["filter"], keep_blank_values=True)
    assert filters == {"code": ["PTP"], "started_after": [filters["started_after"][0]]}


def test_paging_and_sorting_are_left_out_of_the_recorded_filters(manager_client, bare_task):
    make_calls(bare_task, 3)
    params = {"started_after": "", "q": "ana", "page": "3", "per_page": "50", "sort": "name"}

    b"".join(manager_client.get(CALLS, {**params, "_export": "csv"}).streaming_content)

    [event] = exports()
    assert event.details["filter"] == "started_after=&q=ana"
    assert event.details["rows"] == 0


@pytest.fixture
def exporter(client, django_user_model):
    """Someone granted just the rights to see and export calls: an earlier test that committed
    may have flushed the groups the migrations made, never the permissions."""
    user = django_user_model.objects.create_user("exporter")
    for permission in (roles.VIEW_DASHBOARD, roles.EXPORT):
        app_label, codename = permission.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    client.force_login(user)
    return client


# Closing a response ends the request, which closes a database connection inside a transaction:
# this test commits for real, as a server does.
@pytest.mark.django_db(transaction=True)
def test_a_csv_download_cut_short_records_the_rows_that_left(exporter, bare_task):
    make_calls(bare_task, 1200)

    response = exporter.get(CALLS, {"started_after": "", "_export": "csv"})
    pieces = iter(response.streaming_content)
    for _ in range(3):  # the header, then two pieces of 500 rows
        next(pieces)
    response.close()  # the browser went away: the server stops asking for more, and closes

    [event] = exports()
    assert event.details["rows"] == 500 and event.details["complete"] is False


def test_a_csv_export_is_on_record_once_its_first_bytes_leave(manager_client, bare_task):
    # Whether its end is ever heard or not: a worker killed at its timeout runs no `finally`.
    make_calls(bare_task, 3)
    response = manager_client.get(CALLS, {"started_after": "", "_export": "csv"})
    pieces = iter(response.streaming_content)

    next(pieces)  # the header has left

    [event] = exports()
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


def test_an_xlsx_export_built_in_the_background_is_recorded_when_downloaded(
    manager_client, manager, bare_task
):
    make_calls(bare_task, 7)

    response = run_background_export(manager_client, {"started_after": "", "_export": "xlsx"})

    assert exports() == []  # nothing left as the page asked: the job built it
    [event] = AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT_DOWNLOADED)
    assert event.user == manager
    assert event.details == {
        "job": ExportJob.objects.get().pk,
        "format": "xlsx",
        "filter": "started_after=",
        "rows": 7,
    }
    response.close()


@pytest.mark.parametrize(
    "params",
    [
        {"_export": "pdf"},  # no such format
        {"talk_min": "abc", "_export": "csv"},  # filters that do not read
    ],
)
def test_an_export_refused_leaves_no_event(manager_client, bare_task, params):
    make_calls(bare_task, 3)
    assert manager_client.get(CALLS, params).status_code == 302
    assert exports() == []


def test_staff_who_may_not_export_leave_no_export_event(staff_client, bare_task):
    make_calls(bare_task, 3)
    assert staff_client.get(CALLS, {"_export": "csv"}).status_code == 403
    assert exports() == []


# --- recordings ----------------------------------------------------------------------------------


@pytest.fixture
def recorded_call(bare_task) -> CallRecord:
    return make_call(bare_task, "c0000", record_url=FAKE_BLU)


def play(client, call: CallRecord, range_header: str | None = None):
    headers = {"Range": range_header} if range_header else {}
    response = client.get(reverse("calls:call_recording", args=[call.pk]), headers=headers)
    if response.streaming:
        b"".join(response.streaming_content)  # played to the end
    return response


def plays() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditEvent.Action.RECORDING_PLAYED))


@responses.activate
def test_playing_a_recording_is_recorded_with_the_call(staff_client, staff_user, recorded_call):
    responses.get(FAKE_BLU, body=AUDIO, content_type="audio/wav")

    assert play(staff_client, recorded_call).status_code == 200

    [event] = plays()
    assert event.user == staff_user and event.target == "call c0000"
    assert event.details == {"call_id": "c0000", "task": "777", "account": "collections"}
    # The recording link is a bearer URL: it stays out of the trail.
    assert "SECRETTOKEN" not in f"{event.target} {event.details}"


@responses.activate
def test_the_ranges_of_one_play_make_one_event(staff_client, recorded_call):
    # Blu ignores ranges here: the view cuts each range from the whole file itself.
    responses.get(
        FAKE_BLU,
        body=AUDIO,
        headers={"Content-Length": str(len(AUDIO))},
        content_type="audio/wav",
    )

    # How a browser plays: from the start, then further ranges as it buffers and seeks.
    answers = [
        play(staff_client, recorded_call, header)
        for header in ("bytes=0-", "bytes=4096-", "bytes=8192-9000", "bytes=-100")
    ]

    assert [a.status_code for a in answers] == [206, 206, 206, 206]
    assert len(plays()) == 1
    play(staff_client, recorded_call, "bytes=0-")  # back to the start, in the same sitting
    assert len(plays()) == 1
    cache.clear()  # as if PLAY_GAP_SECONDS had passed since the last fetch
    play(staff_client, recorded_call, "bytes=0-")  # played again later
    assert len(plays()) == 2


@responses.activate
def test_ranges_blu_serves_itself_make_one_play_whichever_comes_first(staff_client, recorded_call):
    responses.get(
        FAKE_BLU,
        body=AUDIO[100:200],
        status=206,
        headers={"Content-Range": f"bytes 100-199/{len(AUDIO)}"},
        content_type="audio/wav",
    )
    assert play(staff_client, recorded_call, "bytes=100-199").status_code == 206
    assert play(staff_client, recorded_call, "bytes=100-199").status_code == 206
    assert len(plays()) == 1


@responses.activate
def test_a_recording_fetched_from_its_second_byte_is_still_a_play(staff_client, recorded_call):
    # Blu ignores ranges: the view cuts them itself.
    responses.get(
        FAKE_BLU, body=AUDIO, headers={"Content-Length": str(len(AUDIO))}, content_type="audio/wav"
    )
    url = reverse("calls:call_recording", args=[recorded_call.pk])

    response = staff_client.get(url, headers={"Range": "bytes=1-"})

    assert response.status_code in (200, 206)
    assert b"".join(response.streaming_content) == AUDIO[1:]
    assert len(plays()) == 1


@responses.activate
def test_a_recording_asked_for_in_several_ranges_at_once_is_a_play(staff_client, recorded_call):
    responses.get(FAKE_BLU, body=AUDIO, content_type="audio/wav")

    # Several ranges are not passed on (a multipart answer is no audio): the whole file is.
    response = play(staff_client, recorded_call, "bytes=0-0,1-")

    assert response.status_code == 200
    assert "Range" not in responses.calls[0].request.headers
    assert len(plays()) == 1


@responses.activate
def test_safaris_probe_then_its_play_make_one_event(staff_client, recorded_call):
    responses.get(
        FAKE_BLU, body=AUDIO, headers={"Content-Length": str(len(AUDIO))}, content_type="audio/wav"
    )
    # Safari asks for two bytes first.
    for header in ("bytes=0-1", "bytes=0-", "bytes=5000-"):
        assert play(staff_client, recorded_call, header).status_code in (200, 206)
    assert len(plays()) == 1


@responses.activate
def test_a_recording_blu_fails_to_send_or_a_head_request_is_no_play(staff_client, recorded_call):
    responses.get(FAKE_BLU, status=500)
    assert play(staff_client, recorded_call).status_code == 502
    responses.replace(responses.GET, FAKE_BLU, body=AUDIO, content_type="audio/wav")
    url = reverse("calls:call_recording", args=[recorded_call.pk])
    assert staff_client.head(url).status_code == 405
    assert plays() == []


def test_outsiders_refused_a_recording_leave_no_play(client, outsider, recorded_call):
    client.force_login(outsider)
    assert play(client, recorded_call).status_code == 403
    assert plays() == []


# --- the audit log itself ------------------------------------------------------------------------


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
