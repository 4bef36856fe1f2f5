"""A call's page (every field, script, slots, extVars, the raw record for admins) and its
recording, streamed through our own view."""

from __future__ import annotations

import pytest
import requests
import responses
from django.urls import reverse
from django.utils import timezone
from responses import matchers

from calls.blu.sandbox import wav_bytes
from calls.dashboard.call_details import payment_range
from calls.ingest import sync
from calls.models import CallRecord, Conclusion, StatusLabel, Task
from tests.helpers import FAKE_BLU, make_call


@pytest.fixture
def scripted(make_task) -> Task:
    task = make_task(calls=30, with_script=True)
    sync.sync_task(task)
    return task


def page_of(client, call: CallRecord) -> str:
    response = client.get(reverse("calls:call_detail", args=[call.pk]))
    assert response.status_code == 200
    return response.content.decode()


def section(page: str, element_id: str) -> str:
    return page.split(f'id="{element_id}"', 1)[1].split("</section>", 1)[0]


# --- the page ------------------------------------------------------------------------------------


def test_the_call_page_shows_every_field(staff_client, scripted):
    call = scripted.calls.filter(code="PTP").first()
    StatusLabel.objects.update_or_create(value=call.status, defaults={"label": "Finished"})

    page = page_of(staff_client, call)

    facts = section(page, "call-facts")
    for value in (call.call_id, call.name, call.phone, call.job_id, call.user_id, call.bot_id):
        assert value in facts
    assert "Finished" in facts
    conclusion = Conclusion.objects.get(code="PTP")
    assert conclusion.label in facts and conclusion.category in facts
    local_start = timezone.localtime(call.start_time)
    assert f"{local_start:%Y-%m-%d %H:%M:%S}" in facts and "UTC" in facts
    assert reverse("calls:task_detail", args=[scripted.pk]) in facts
    assert f"({call.duration} s)" in facts


def test_the_script_reads_as_a_conversation(staff_client, scripted):
    call = scripted.calls.exclude(script=None).first()

    page = page_of(staff_client, call)

    script = page.split('<ol class="script" id="script">', 1)[1].split("</ol>", 1)[0]
    assert script.count("<li") == len(call.script)
    assert '<span class="who">Robot</span>' in script
    assert call.script[0]["text"].replace("'", "&#x27;") in script


def test_a_promised_payment_time_shows_as_a_readable_range(staff_client, scripted):
    call = next(c for c in scripted.calls.filter(code="PTP") if c.slots["paymentTime"])

    page = page_of(staff_client, call)

    slots = page.split('id="slots"', 1)[1].split("</table>", 1)[0]
    assert "Payment time" in slots
    assert payment_range(call.slots["paymentTime"]) in slots
    assert call.slots["paymentTime"][0] not in slots


def test_a_call_without_a_promise_says_none_was_said(staff_client, scripted):
    call = scripted.calls.exclude(slots=None).exclude(code="PTP").first()
    assert "none said" in page_of(staff_client, call)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (["2024-08-15 13:00:00", "2024-08-15 18:00:00"], "Thu 15 Aug 2024, 13:00\u201318:00"),
        (["2024-08-15 00:00:00", "2024-08-15 23:59:59"], "Thu 15 Aug 2024, all day"),
        (["2024-08-15 17:00:00", "2024-08-15 17:00:00"], "Thu 15 Aug 2024, 17:00"),
        (["2024-08-16 00:00:00", "2024-08-17 23:59:59"], "16 Aug 00:00 \u2013 17 Aug 23:59"),
        (
            ["2024-12-31 18:00:00", "2025-01-01 12:00:00"],
            "31 Dec 2024 18:00 \u2013 1 Jan 2025 12:00",
        ),
        (None, "none said"),
        (["soon", "later"], "soon \u2013 later"),
    ],
)
def test_payment_ranges_read_as_a_person_would_say_them(value, shown):
    assert payment_range(value) == shown


def test_ext_vars_are_a_key_value_table(staff_client, bare_task):
    call = make_call(bare_task, ext_vars={"uniqueId": "U1", "orderId": 10000})

    page = page_of(staff_client, call)

    table = page.split('id="ext-vars"', 1)[1].split("</table>", 1)[0]
    assert '<th scope="row">uniqueId</th><td>U1</td>' in table
    assert '<th scope="row">orderId</th><td>10000</td>' in table


def test_ext_vars_that_were_not_json_show_as_the_text_blu_sent(staff_client, bare_task):
    call = make_call(bare_task, ext_vars=None, ext_vars_raw="orderId=10022")
    page = page_of(staff_client, call)
    assert "not JSON" in page and "orderId=10022" in page


def test_scripts_and_slots_in_shapes_we_do_not_know_show_as_json(staff_client, bare_task):
    call = make_call(bare_task, script={"nodes": [1, 2]}, slots=["odd"])
    page = page_of(staff_client, call)
    assert '<pre class="json" id="script">' in page and "&quot;nodes&quot;" in page
    assert '<pre class="json" id="slots">' in page


def test_a_call_in_progress_shows_what_is_missing(staff_client, bare_task):
    call = make_call(bare_task, status=1, code="", record_url="")
    page = page_of(staff_client, call)
    assert "none yet" in page and "not answered" in page and "No recording" in page
    assert "<audio" not in page


def test_problems_with_the_record_are_listed(staff_client, bare_task):
    call = make_call(bare_task, problems=["startTime: '2024-13-01' is not a time"])
    assert "is not a time" in section(page_of(staff_client, call), "call-facts")


def test_only_admins_see_the_raw_record(client, request, bare_task):
    call = make_call(bare_task, raw={"callId": "c1", "secretish": "only-for-admins"})
    for person, sees in (("staff_user", False), ("manager", False), ("admin_user", True)):
        client.force_login(request.getfixturevalue(person))
        page = page_of(client, call)
        assert ('id="raw-record"' in page) is sees and ("only-for-admins" in page) is sees


def test_hostile_strings_render_inert(admin_client_, bare_task):
    evil = "<script>alert(1)</script>"
    call = make_call(
        bare_task,
        name=evil,
        desc=evil,
        phone=evil,
        code=evil,
        script=[{"role": evil, "text": evil, "time": evil}],
        slots={evil: evil, "paymentTime": [evil, evil]},
        ext_vars={evil: evil},
        raw={"name": evil},
        record_url="javascript:alert(1)",
    )

    page = page_of(admin_client_, call)

    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "javascript:" not in page and "<audio" not in page


def test_a_missing_call_is_404(staff_client):
    assert staff_client.get(reverse("calls:call_detail", args=[999])).status_code == 404


def test_the_page_plays_the_recording_through_our_view_only(staff_client, scripted):
    call = scripted.calls.exclude(record_url="").first()

    page = page_of(staff_client, call)

    url = reverse("calls:call_recording", args=[call.pk])
    assert f'<audio id="recording" controls preload="none" src="{url}"></audio>' in page
    assert call.record_url not in page


# --- the recording -------------------------------------------------------------------------------


def recording_url(call: CallRecord) -> str:
    return reverse("calls:call_recording", args=[call.pk])


def test_the_recording_streams_the_wav_blu_serves(staff_client, scripted):
    call = scripted.calls.exclude(record_url="").first()

    response = staff_client.get(recording_url(call))

    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert b"".join(response.streaming_content) == wav_bytes()
    assert response["Accept-Ranges"] == "bytes"
    assert "private" in response["Cache-Control"]


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-44", -44, None)],
)
def test_the_recording_honours_a_range_even_when_blu_does_not(
    staff_client, scripted, range_header, first, last
):
    call = scripted.calls.exclude(record_url="").first()
    wav = wav_bytes()
    start = first % len(wav)
    end = len(wav) - 1 if last is None else last

    response = staff_client.get(recording_url(call), headers={"Range": range_header})

    assert response.status_code == 206
    assert b"".join(response.streaming_content) == wav[start : end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(wav)}"
    assert response["Content-Length"] == str(end - start + 1)


def test_a_range_past_the_end_is_refused(staff_client, scripted):
    call = scripted.calls.exclude(record_url="").first()
    size = len(wav_bytes())
    response = staff_client.get(recording_url(call), headers={"Range": f"bytes={size}-"})
    assert response.status_code == 416 and response["Content-Range"] == f"bytes */{size}"


@responses.activate
def test_the_browsers_range_is_passed_to_blu_and_its_answer_passed_back(staff_client, bare_task):
    call = make_call(bare_task, record_url=FAKE_BLU)
    responses.get(
        FAKE_BLU,
        body=b"abcd",
        status=206,
        headers={"Content-Range": "bytes 4-7/100", "Accept-Ranges": "bytes"},
        content_type="audio/mpeg",
    )

    response = staff_client.get(recording_url(call), headers={"Range": "bytes=4-7"})

    assert responses.calls[0].request.headers["Range"] == "bytes=4-7"
    assert response.status_code == 206 and b"".join(response.streaming_content) == b"abcd"
    assert response["Content-Type"] == "audio/mpeg"
    assert response["Content-Range"] == "bytes 4-7/100"


@pytest.mark.parametrize(
    "content_type",
    ["text/html", "application/json", "image/svg+xml", "text/plain", "video/mp4", "text/x-evil"],
)
@responses.activate
def test_an_answer_that_is_not_audio_is_refused_with_a_clear_message(
    staff_client, bare_task, content_type
):
    # A recordUrl comes in an unsigned callback and may name any path on Blu's hosts.
    call = make_call(bare_task, record_url=FAKE_BLU)
    responses.get(FAKE_BLU, body=b"<script>alert(1)</script>", content_type=content_type)

    response = staff_client.get(recording_url(call))

    assert response.status_code == 502
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    text = response.content.decode()
    assert "not a recording" in text and "is not audio" in text
    assert "alert" not in text and "SECRETTOKEN" not in text


@pytest.mark.parametrize(
    "content_type",
    # Two types in one header (a server that sends Content-Type twice reaches us so): browsers
    # take the last one (the Fetch standard's "extract a MIME type") and would render the HTML.
    ["audio/wav, text/html", "audio/mpeg,text/html;charset=utf-8", "audio/"],
)
@responses.activate
def test_a_label_that_is_not_one_audio_type_is_refused(staff_client, bare_task, content_type):
    call = make_call(bare_task, record_url=FAKE_BLU)
    responses.get(FAKE_BLU, body=b"<h1>Your session expired</h1>", content_type=content_type)

    response = staff_client.get(recording_url(call))

    assert response.status_code == 502 and "is not audio" in response.content.decode()


@responses.activate
def test_audio_is_served_as_the_type_it_was_judged_by(staff_client, bare_task):
    call = make_call(bare_task, record_url=FAKE_BLU)
    responses.get(FAKE_BLU, body=wav_bytes(), content_type="Audio/WAV; charset=utf-8")

    response = staff_client.get(recording_url(call))

    assert response.status_code == 200 and response["Content-Type"] == "audio/wav"


@responses.activate
def test_bytes_blu_labels_only_as_bytes_play_when_they_are_audio(staff_client, bare_task):
    call = make_call(bare_task, record_url=FAKE_BLU)
    responses.get(FAKE_BLU, body=wav_bytes(), content_type="application/octet-stream")

    response = staff_client.get(recording_url(call))

    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"  # what the bytes are
    assert b"".join(response.streaming_content) == wav_bytes()


@pytest.mark.parametrize("content_type", ["application/octet-stream", None])
@responses.activate
def test_bytes_blu_labels_only_as_bytes_are_refused_when_they_are_not_audio(
    staff_client, bare_task, content_type
):
    call = make_call(bare_task, record_url=FAKE_BLU)
    responses.get(FAKE_BLU, body=b"<html><script>alert(1)</script>", content_type=content_type)

    response = staff_client.get(recording_url(call))

    assert response.status_code == 502 and "is not audio" in response.content.decode()


@pytest.mark.parametrize(
    ("start", "status"), [(b"RIFF\x00\x00\x00\x00WAVEfmt ", 206), (b"{}", 502)]
)
@responses.activate
def test_a_range_of_bytes_labelled_only_as_bytes_is_told_by_the_files_start(
    staff_client, bare_task, start, status
):
    call = make_call(bare_task, record_url=FAKE_BLU)
    part = {"Content-Range": "bytes 100-103/5000"}
    responses.get(
        FAKE_BLU,
        body=b"abcd",
        status=206,
        headers=part,
        content_type="application/octet-stream",
        match=[matchers.header_matcher({"Range": "bytes=100-103"})],
    )
    responses.get(
        FAKE_BLU,
        body=start,
        status=206,
        headers={"Content-Range": f"bytes 0-{len(start) - 1}/5000"},
        content_type="application/octet-stream",
        match=[matchers.header_matcher({"Range": "bytes=0-15"})],
    )

    response = staff_client.get(recording_url(call), headers={"Range": "bytes=100-103"})

    assert response.status_code == status
    if status == 206:
        assert response["Content-Type"] == "audio/wav"
        assert b"".join(response.streaming_content) == b"abcd"


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500, "body": b"oops"},
        {"status": 404, "body": b"gone"},
        {"body": requests.ConnectionError("to https://blu.example/...SECRETTOKEN=")},
        {"body": requests.ReadTimeout("read timed out")},
    ],
)
@responses.activate
def test_when_blu_fails_the_recording_answers_502_without_the_link(
    staff_client, bare_task, failure
):
    call = make_call(bare_task, record_url=FAKE_BLU)
    responses.get(FAKE_BLU, **failure)

    response = staff_client.get(recording_url(call))

    assert response.status_code == 502
    text = response.content.decode()
    assert "Blu" in text and "SECRETTOKEN" not in text and "blu.example" not in text


def test_a_call_without_a_recording_is_404(staff_client, bare_task):
    for url in ("", "ftp://blu.example/x.wav", "javascript:alert(1)"):
        call = make_call(bare_task, call_id=f"c-{url}", record_url=url)
        assert staff_client.get(recording_url(call)).status_code == 404


def test_outsiders_get_the_polite_page_and_no_recording(client, outsider, bare_task):
    call = make_call(bare_task, record_url=FAKE_BLU)
    client.force_login(outsider)
    response = client.get(recording_url(call))
    assert response.status_code == 403 and b"not in any bludash group" in response.content


def test_anonymous_visitors_are_sent_to_sign_in_for_a_recording(client, bare_task):
    call = make_call(bare_task, record_url=FAKE_BLU)
    response = client.get(recording_url(call))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@responses.activate
def test_a_head_request_fetches_nothing_from_blu(staff_client, bare_task):
    call = make_call(bare_task, record_url=FAKE_BLU)
    responses.get(FAKE_BLU, body=wav_bytes(), content_type="audio/wav")
    responses.head(FAKE_BLU, content_type="audio/wav")

    response = staff_client.head(recording_url(call))

    assert response.status_code == 405 and response["Allow"] == "GET"
    assert len(responses.calls) == 0


@responses.activate
def test_a_recording_on_a_host_nobody_allowed_is_never_fetched(staff_client, bare_task, settings):
    settings.BLUDASH_RECORDING_HOSTS = []
    call = make_call(bare_task, record_url="http://10.0.0.7/admin/secrets")

    response = staff_client.get(reverse("calls:call_recording", args=[call.pk]))

    assert response.status_code == 502
    assert "10.0.0.7, which is not one of this account's Blu hosts" in response.content.decode()
    assert len(responses.calls) == 0


@responses.activate
def test_an_allowed_ipv6_host_without_a_port_serves_on_its_default_ports(
    staff_client, bare_task, settings
):
    settings.BLUDASH_RECORDING_HOSTS = ["[fd00::7]"]
    url = "https://[fd00::7]/files/rec.wav"
    call = make_call(bare_task, record_url=url)
    responses.get(url, body=wav_bytes(), content_type="audio/wav")

    response = staff_client.get(reverse("calls:call_recording", args=[call.pk]))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == wav_bytes()


@responses.activate
def test_a_redirect_is_followed_only_to_an_allowed_host(staff_client, bare_task):
    call = make_call(bare_task, record_url=FAKE_BLU)
    responses.get(FAKE_BLU, status=302, headers={"Location": "http://169.254.169.254/latest/"})

    response = staff_client.get(reverse("calls:call_recording", args=[call.pk]))

    assert response.status_code == 502 and "169.254.169.254" in response.content.decode()
    assert [c.request.url for c in responses.calls] == [FAKE_BLU]


@responses.activate
def test_a_redirect_within_blus_hosts_is_followed(staff_client, bare_task):
    call = make_call(bare_task, record_url=FAKE_BLU)
    final = "https://blu.example/files/rec.wav"
    responses.get(FAKE_BLU, status=302, headers={"Location": "/files/rec.wav"})
    responses.get(final, body=wav_bytes(), content_type="audio/wav")

    response = staff_client.get(reverse("calls:call_recording", args=[call.pk]))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == wav_bytes()


@responses.activate
@pytest.mark.parametrize(
    "record_url",
    [
        # urlsplit reads the host as blu.example; requests would connect to 127.0.0.1.
        "http://127.0.0.1:6379\\@blu.example/x",
        "https://user:pass@blu.example/download/x",
        "https://blu.example:6379/download/x",
        "https://blu.example/down load/x",
        "ftp://blu.example/x",
    ],
)
def test_a_recording_url_that_parsers_could_read_two_ways_is_never_fetched(
    staff_client, bare_task, record_url
):
    call = make_call(bare_task, record_url=record_url)

    response = staff_client.get(reverse("calls:call_recording", args=[call.pk]))

    assert response.status_code in (404, 502)
    assert len(responses.calls) == 0
