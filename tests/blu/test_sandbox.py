"""The Blu sandbox, over real HTTP: it must hold clients to the contract the real Blu holds them to.

No database: the sandbox is pure Python, and these tests only speak HTTP to it.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import wave
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from calls.blu.sandbox import Sandbox, load_world, recording_token
from calls.blu.signing import sign, signed_headers
from tests.helpers import wait_for

APP_ID = "10001"
APP_KEY = "sandbox-test-key"
OTHER_APP_ID = "20002"
OTHER_APP_KEY = "other-sandbox-key"
ZONE = "Asia/Colombo"
TASK_ID = "66547748"
QUERY = "/rest/v1/queryCallResult"
UPLOAD = "/rest/v1/uploadAndStartJob"
CANCEL = "/rest/v1/taskCancelPhoneCall"
TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


# --- helpers -----------------------------------------------------------------------------------


def post(sb: Sandbox, path: str, body: Any, headers: dict[str, str] | None = None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(
        f"{sb.url}{path}", data=data, headers=headers or signed_headers(APP_ID, APP_KEY), timeout=5
    )


def blu(sb: Sandbox, path: str, body: Any, headers: dict[str, str] | None = None) -> dict:
    """Blu's JSON answer; Blu answers protocol errors with HTTP 200 too."""
    response = post(sb, path, body, headers)
    assert response.status_code == 200, response.text
    return response.json()


def page(sb: Sandbox, task_id: str | int = TASK_ID, **body: Any) -> dict:
    return blu(sb, QUERY, {"taskId": task_id, **body})


def all_pages(sb: Sandbox, task_id: str = TASK_ID, page_size: int = 10) -> list[dict]:
    records: list[dict] = []
    for page_no in range(1, 1000):
        answer = page(sb, task_id, pageNo=page_no, pageSize=page_size)
        if not answer["data"]:
            return records
        records += answer["data"]
    raise AssertionError("the sandbox never returned an empty page")


def ended_task(sb: Sandbox, calls: int, task_id: str = TASK_ID, **kwargs: Any):
    """A task whose calls all ended: it ran yesterday, a call a minute."""
    kwargs.setdefault("started_at", sb.now() - timedelta(days=1))
    kwargs.setdefault("pace_seconds", 60.0)
    return sb.add_task(app_id=APP_ID, task_id=task_id, calls=calls, **kwargs)


def people(count: int, **fields: Any) -> list[dict]:
    return [
        {
            "id": 55667000 + n,
            "name": f"Person {n}",
            "mobile": f"0771{n:07d}",
            "extVars": json.dumps({"uniqueId": f"P{n}", "orderId": 20000 + n}),
            "callVars": json.dumps({"ClientName": f"Person {n}", "OverDueDays": "3"}),
            **fields,
        }
        for n in range(count)
    ]


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(tick_seconds=0.05, callback_retry_seconds=0.1) as sandbox:
        sandbox.add_account(app_id=APP_ID, app_key=APP_KEY, time_zone=ZONE)
        sandbox.add_account(app_id=OTHER_APP_ID, app_key=OTHER_APP_KEY, time_zone="UTC")
        yield sandbox


# --- signing -----------------------------------------------------------------------------------


def headers_with(**changes: str | None) -> dict[str, str]:
    headers = signed_headers(APP_ID, APP_KEY)
    for name, value in changes.items():
        if value is None:
            del headers[name]
        else:
            headers[name] = value
    return headers


def stamped(stamp: str, app_id: str = APP_ID, key: str = APP_KEY) -> dict[str, str]:
    return {
        "appId": app_id,
        "timeStamp": stamp,
        "sign": sign(app_id, key, stamp),
        "Content-Type": "application/json",
    }


@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [
        (lambda: headers_with(sign=None), 4001, "missing appId, timeStamp or sign"),
        (lambda: headers_with(appId=None), 4001, "missing appId, timeStamp or sign"),
        (lambda: signed_headers("99999", APP_KEY), 4003, "invalid appId"),
        (lambda: signed_headers(APP_ID, APP_KEY, now=time.time() - 301), 4004, "timeStamp expired"),
        (lambda: signed_headers(APP_ID, APP_KEY, now=time.time() + 301), 4004, "timeStamp expired"),
        (lambda: stamped(str(int(time.time()))), 4004, "timeStamp expired"),  # seconds, not ms
        (lambda: signed_headers(APP_ID, "not-the-key"), 4005, "sign error"),
        (lambda: signed_headers(APP_ID, OTHER_APP_KEY), 4005, "sign error"),
        (lambda: headers_with(sign=signed_headers(APP_ID, APP_KEY)["sign"].upper()), 4005, None),
    ],
    ids=[
        "no-sign",
        "no-appId",
        "unknown-appId",
        "stale",
        "future",
        "10-digit-stamp",
        "wrong-key",
        "other-accounts-key",
        "uppercase-sign",
    ],
)
def test_badly_signed_requests_are_refused_with_http_200_and_a_code(sb, headers, code, message):
    ended_task(sb, 3)
    answer = blu(sb, QUERY, {"taskId": TASK_ID}, headers())
    assert answer["code"] == code
    assert "data" not in answer
    if message:
        assert answer["message"] == message


def test_timestamps_are_checked_against_real_time_not_the_sandbox_clock(sb):
    ended_task(sb, 3)
    sb.advance(timedelta(days=2))
    assert page(sb)["code"] == 2000
    stamp_from_sandbox_clock = str(int(sb.now().timestamp() * 1000))
    assert blu(sb, QUERY, {"taskId": TASK_ID}, stamped(stamp_from_sandbox_clock))["code"] == 4004


# --- the request body ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        {},
        {"taskId": ""},
        {"taskId": None},
        {"taskId": True},
        {"taskId": TASK_ID, "pageNo": 0},
        {"taskId": TASK_ID, "pageNo": -1},
        {"taskId": TASK_ID, "pageNo": "2"},
        {"taskId": TASK_ID, "pageNo": 1.5},
        {"taskId": TASK_ID, "pageSize": 0},
        {"taskId": TASK_ID, "pageSize": True},
    ],
)
def test_a_malformed_query_is_answered_4000(sb, body):
    ended_task(sb, 3)
    assert blu(sb, QUERY, body)["code"] == 4000


def test_a_body_not_sent_as_json_is_answered_4000(sb):
    ended_task(sb, 3)
    headers = headers_with(**{"Content-Type": "text/plain"})
    assert blu(sb, QUERY, {"taskId": TASK_ID}, headers)["code"] == 4000


def test_an_unknown_task_or_another_accounts_task_is_not_found(sb):
    sb.add_task(app_id=OTHER_APP_ID, task_id="777", calls=3)
    assert page(sb, "12345") == {"code": 4006, "message": "task not found"}
    assert page(sb, "777") == {"code": 4006, "message": "task not found"}


def test_task_id_is_accepted_as_a_number_or_as_text(sb):
    ended_task(sb, 12)
    as_text = page(sb, TASK_ID)
    assert as_text["code"] == 2000
    assert page(sb, int(TASK_ID)) == as_text


def test_unknown_paths_are_404_and_api_paths_want_post(sb):
    response = post(sb, "/rest/v1/createTask", {"taskId": TASK_ID})
    assert response.status_code == 404
    assert requests.get(sb.url + QUERY, timeout=5).status_code == 405


# --- paging ----------------------------------------------------------------------------------


def test_task_id_alone_gives_page_one_of_ten(sb):
    ended_task(sb, 25)
    answer = page(sb)
    assert answer["code"] == 2000 and answer["message"] == "success"
    assert answer["count"] == 10
    assert [r["callId"] for r in answer["data"]] == [r["callId"] for r in sb.records(TASK_ID)[:10]]


def test_count_is_per_page_and_a_page_past_the_end_is_empty(sb):
    ended_task(sb, 25)
    answers = [page(sb, pageNo=n, pageSize=10) for n in (1, 2, 3, 4, 50)]
    assert [a["count"] for a in answers] == [10, 10, 5, 0, 0]
    assert [len(a["data"]) for a in answers] == [10, 10, 5, 0, 0]
    assert all("total" not in a for a in answers)


def test_a_missing_page_no_means_page_one(sb):
    ended_task(sb, 25)
    assert page(sb, pageSize=20)["data"] == page(sb, pageNo=1, pageSize=20)["data"]


def test_a_page_size_above_the_maximum_is_capped_without_a_word(sb):
    ended_task(sb, 25)
    sb.max_page_size = 7
    answer = page(sb, pageNo=1, pageSize=50)
    assert answer["code"] == 2000
    assert answer["count"] == 7
    assert page(sb, pageNo=4, pageSize=50)["count"] == 4  # 7 + 7 + 7 + 4


def test_pages_are_in_call_id_order_and_add_up_to_records(sb):
    ended_task(sb, 37)
    records = all_pages(sb, page_size=10)
    assert len(records) == 37
    assert records == sb.records(TASK_ID)
    call_ids = [r["callId"] for r in records]
    assert call_ids == sorted(call_ids) == [int(TASK_ID) * 1_000_000 + i for i in range(1, 38)]


def test_only_calls_started_in_the_last_45_days_are_returned(sb):
    # One call a day; the first started 49 days and 23 hours ago.
    ended_task(sb, 10, started_at=sb.now() - timedelta(days=50, hours=-1), pace_seconds=86400)
    assert [r["callId"] % 1000 for r in all_pages(sb)] == [6, 7, 8, 9, 10]
    sb.advance(timedelta(days=1))
    assert [r["callId"] % 1000 for r in all_pages(sb)] == [7, 8, 9, 10]
    assert len(sb.records(TASK_ID)) == 4


def test_a_task_of_a_hundred_thousand_calls_pages_by_arithmetic(sb):
    ended_task(sb, 100_000, started_at=sb.now() - timedelta(days=20), pace_seconds=10)
    last = page(sb, pageNo=5000, pageSize=20)
    assert last["count"] == 20
    assert last["data"][-1]["callId"] == int(TASK_ID) * 1_000_000 + 100_000
    assert page(sb, pageNo=5001, pageSize=20)["count"] == 0


def test_page_delay_slows_every_query(sb):
    ended_task(sb, 3)
    sb.page_delay = 0.2
    began = time.monotonic()
    assert page(sb)["count"] == 3
    assert time.monotonic() - began >= 0.2


def test_the_sandbox_counts_the_requests_of_an_app_id_it_answers_at_once(sb):
    ended_task(sb, 3)
    sb.page_delay = 0.3  # each answer takes this long: three sent together overlap
    start = threading.Barrier(3)
    answers: list[dict] = []

    def ask() -> None:
        start.wait(timeout=10)
        answers.append(page(sb))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [answer["count"] for answer in answers] == [3, 3, 3]
    page(sb)  # alone: the peak stays

    assert sb.peak_concurrent_requests(APP_ID) == 3
    assert sb.peak_concurrent_requests(OTHER_APP_ID) == 0
    assert sb.state()["peakConcurrentRequests"] == {APP_ID: 3}


# --- the calls ---------------------------------------------------------------------------------


def test_calls_are_in_progress_until_they_end(sb):
    sb.add_task(app_id=APP_ID, task_id=TASK_ID, calls=1, started_at=sb.now(), pace_seconds=1.0)
    assert page(sb)["count"] == 0  # not started yet
    sb.advance(2)  # started (within 0.9 pace, to the next second), and rings for 5 s at least
    (call,) = page(sb)["data"]
    assert call["status"] == 1
    assert (call["code"], call["desc"], call["endTime"], call["duration"]) == ("", "", "", 0)
    assert call["recordUrl"] == "" and call["answerTime"] == ""
    sb.advance(3600)
    (done,) = page(sb)["data"]
    assert done["status"] == 2
    assert done["callId"] == call["callId"] and done["startTime"] == call["startTime"]
    assert done["code"] and done["desc"] and TIME.fullmatch(done["endTime"])


def test_final_records_carry_consistent_times_codes_and_recordings(sb):
    ended_task(sb, 300)
    records = sb.records(TASK_ID)
    assert {r["status"] for r in records} == {2}
    answered = [r for r in records if r["answerTime"]]
    unanswered = [r for r in records if not r["answerTime"]]
    assert answered and unanswered
    for record in records:
        assert record["taskId"] == int(TASK_ID)
        assert re.fullmatch(r"07\d\d\*\*\*\d{4}", record["phone"])
        assert TIME.fullmatch(record["startTime"]) and TIME.fullmatch(record["endTime"])
        assert all(isinstance(record[key], int) for key in ("jobId", "userId", "botId"))
    for record in answered:
        answer = datetime.fromisoformat(record["answerTime"])
        end = datetime.fromisoformat(record["endTime"])
        assert 10 <= record["duration"] == (end - answer).total_seconds() <= 300
        start = datetime.fromisoformat(record["startTime"])
        assert 5 <= (answer - start).total_seconds() <= 40
        assert record["recordUrl"].startswith(f"{sb.url}/download/v1/getDownloadUrl/")
    for record in unanswered:
        assert (record["duration"], record["recordUrl"]) == (0, "")
        assert re.fullmatch(r"D\d\d|NAN", record["code"])
    codes = {r["code"] for r in records}
    assert {"PTP", "D00", "LMS"} <= codes
    ptp = next(r for r in records if r["code"] == "PTP")
    assert ptp["desc"] == "Promised to payback"


def test_names_are_varied_without_emoji_and_ext_vars_are_sometimes_messy(sb):
    ended_task(sb, 1000)
    records = sb.records(TASK_ID)
    names = {r["name"] for r in records}
    assert len(names) > 300
    assert any(not name.isascii() for name in names)  # accented Latin letters
    assert all(ord(char) <= 0x24F for name in names for char in name)

    def parses(text: str) -> bool:
        try:
            return isinstance(json.loads(text), dict)
        except ValueError:
            return False

    ext_vars = [r["extVars"] for r in records]
    assert all(isinstance(value, str) for value in ext_vars)
    assert "" in ext_vars
    assert any(value and not parses(value) for value in ext_vars)
    assert sum(parses(value) for value in ext_vars) > 900


def test_a_pool_of_borrowers_is_called_again_in_other_tasks_with_the_same_details(sb):
    ended_task(sb, 200, borrowers=30)
    ended_task(sb, 200, task_id="66547749", borrowers=30, seed=5)

    def people(task_id: str) -> dict[str, tuple[str, str, str]]:
        found = {}
        for r in sb.records(task_id):
            if r["extVars"].startswith("{"):
                ext = json.loads(r["extVars"])
                found[ext["uniqueId"]] = (r["name"], r["phone"], str(ext["orderId"]))
        return found

    first, second = people(TASK_ID), people("66547749")
    assert len(first) <= 30 and len(set(first) & set(second)) >= 20
    assert all(first[key] == second[key] for key in set(first) & set(second))


def test_times_are_in_the_accounts_time_zone(sb):
    ended_task(sb, 5)
    in_colombo = sb.records(TASK_ID)
    sb.add_account(app_id=APP_ID, app_key=APP_KEY, time_zone="UTC")
    in_utc = sb.records(TASK_ID)
    for local, utc in zip(in_colombo, in_utc, strict=True):
        shift = datetime.fromisoformat(local["startTime"]) - datetime.fromisoformat(
            utc["startTime"]
        )
        assert shift == timedelta(hours=5, minutes=30)


def test_the_same_seed_gives_the_same_calls(sb):
    with Sandbox() as other:
        other.add_account(app_id=APP_ID, app_key="another-key", time_zone=ZONE)
        started = sb.now() - timedelta(days=1)
        ended_task(sb, 20, started_at=started, seed=7)
        for task_id, seed in ((TASK_ID, 7), ("66547749", 8)):
            other.add_task(APP_ID, task_id, 20, started_at=started, pace_seconds=60, seed=seed)

        def without_urls(records: list[dict]) -> list[dict]:
            return [{**r, "recordUrl": bool(r["recordUrl"])} for r in records]

        assert without_urls(sb.records(TASK_ID)) == without_urls(other.records(TASK_ID))
        assert [r["name"] for r in other.records("66547749")] != [
            r["name"] for r in other.records(TASK_ID)
        ]


def test_scripted_tasks_carry_the_script_and_the_payment_slot(sb):
    ended_task(sb, 300, with_script=True)
    records = sb.records(TASK_ID)
    for record in records:
        if not record["answerTime"]:
            assert "script" not in record and "slots" not in record
            continue
        assert {turn["role"] for turn in record["script"]} <= {"robot", "person"}
        assert all(TIME.fullmatch(turn["time"]) for turn in record["script"])
        payment = record["slots"]["paymentTime"]
        assert (payment is not None) == (record["code"] == "PTP")
    tomorrow = next(
        r
        for r in records
        if r["code"] == "PTP" and any(t["text"] == "I will pay tomorrow." for t in r["script"])
    )
    next_day = (datetime.fromisoformat(tomorrow["answerTime"]) + timedelta(days=1)).date()
    assert tomorrow["slots"]["paymentTime"] == [f"{next_day} 00:00:00", f"{next_day} 23:59:59"]


# --- recordings --------------------------------------------------------------------------------


def test_a_recording_is_a_real_wav(sb):
    ended_task(sb, 20)
    url = next(r["recordUrl"] for r in sb.records(TASK_ID) if r["recordUrl"])
    response = requests.get(url, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "audio/wav"
    assert int(response.headers["Content-Length"]) == len(response.content)
    with wave.open(io.BytesIO(response.content)) as recording:
        assert (recording.getnchannels(), recording.getframerate()) == (1, 8000)
        assert recording.getnframes() / recording.getframerate() == pytest.approx(2.0)


def test_only_tokens_of_answered_calls_that_ended_download(sb):
    ended_task(sb, 20)
    unanswered = next(i for i, r in enumerate(sb.records(TASK_ID)) if not r["answerTime"])
    sb.add_task(app_id=APP_ID, task_id="66547749", calls=1)  # not started yet
    for token in (
        "FCAGKR4SUAFP2MMOZA3JVENTL4XCO5GTIJ4YSKX=",  # Blu's example: not one of ours
        "not-base32!",
        recording_token(TASK_ID, unanswered),
        recording_token(TASK_ID, 20),
        recording_token("66547749", 0),
    ):
        response = requests.get(f"{sb.url}/download/v1/getDownloadUrl/{token}", timeout=5)
        assert response.status_code == 404, token


# --- faults ------------------------------------------------------------------------------------


def test_http500_answers_500_as_many_times_as_asked(sb):
    ended_task(sb, 25)
    sb.inject("http500", task_id=TASK_ID, times=2)
    for _ in range(2):
        response = post(sb, QUERY, {"taskId": TASK_ID})
        assert response.status_code == 500
        assert response.headers["Content-Type"].startswith("text/plain")
    assert page(sb)["count"] == 10


def test_truncated_answers_half_a_json_body(sb):
    ended_task(sb, 25)
    sb.inject("truncated")
    response = post(sb, QUERY, {"taskId": TASK_ID})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError):
        response.json()
    assert page(sb)["count"] == 10


def test_code_and_busy_answer_blu_errors(sb):
    ended_task(sb, 25)
    sb.inject("code", task_id=TASK_ID)
    sb.inject("code", task_id=TASK_ID, code=4100, message="task locked")
    sb.inject("busy", task_id=TASK_ID)
    assert page(sb) == {"code": 5000, "message": "internal error"}
    assert page(sb) == {"code": 4100, "message": "task locked"}
    assert page(sb) == {"code": 5003, "message": "System busy, please try again later"}
    assert page(sb)["code"] == 2000


def test_slow_answers_normally_after_a_while(sb):
    ended_task(sb, 25)
    sb.inject("slow", seconds=0.3)
    began = time.monotonic()
    assert page(sb)["count"] == 10
    assert time.monotonic() - began >= 0.3


def test_duplicate_repeats_the_previous_pages_last_record(sb):
    ended_task(sb, 25)
    sb.inject("duplicate", task_id=TASK_ID, times=None)
    first = page(sb, pageNo=1, pageSize=10)
    second = page(sb, pageNo=2, pageSize=10)
    assert first["count"] == 10  # nothing to repeat on page 1
    assert second["count"] == 11
    assert second["data"][0] == first["data"][-1]
    assert page(sb, pageNo=4, pageSize=10)["count"] == 0  # an empty page stays empty
    sb.clear_faults()
    assert page(sb, pageNo=2, pageSize=10)["count"] == 10


def test_missing_call_id_drops_the_key_from_one_record(sb):
    ended_task(sb, 25)
    sb.inject("missing_call_id", page_no=2)
    assert all("callId" in r for r in page(sb, pageNo=1)["data"])
    damaged = page(sb, pageNo=2)
    assert damaged["count"] == 10
    assert sum("callId" not in r for r in damaged["data"]) == 1
    assert all("callId" in r for r in page(sb, pageNo=2)["data"])


@pytest.mark.parametrize("style", ["html", "bytes"])
def test_garbage_answers_http_200_with_a_body_that_is_no_json(sb, style):
    ended_task(sb, 25)
    sb.inject("garbage", task_id=TASK_ID, page_no=2, style=style)
    assert page(sb, pageNo=1)["count"] == 10
    response = post(sb, QUERY, {"taskId": TASK_ID, "pageNo": 2})
    assert response.status_code == 200
    assert response.content and b'"code"' not in response.content
    with pytest.raises(ValueError):
        json.loads(response.content)
    assert page(sb, pageNo=2)["count"] == 10  # used up: the page reads whole again


def test_garbage_html_looks_like_a_gateways_error_page(sb):
    ended_task(sb, 3)
    sb.inject("garbage")
    response = post(sb, QUERY, {"taskId": TASK_ID})
    assert response.headers["Content-Type"] == "text/html"
    assert b"502 Bad Gateway" in response.content


def test_raw_records_are_served_after_the_pages_own_exactly_as_given(sb):
    ended_task(sb, 25)
    odd = [
        {"callId": None, "name": ["not", "text"]},
        {"callId": "x-1", "name": "Ano\x00ji \ud800", "duration": float("nan")},
        "not even an object",
    ]
    sb.inject("raw_records", task_id=TASK_ID, page_no=2, records=odd)
    own = page(sb, pageNo=2, pageSize=10)
    assert own["count"] == 13
    assert own["data"][:10] == sb.records(TASK_ID)[10:20]
    first, second, third = own["data"][10:]
    assert first == odd[0] and third == odd[2]
    assert second["name"] == "Ano\x00ji \ud800" and second["duration"] != second["duration"]
    assert page(sb, pageNo=2, pageSize=10)["count"] == 10


def test_raw_records_reach_a_task_without_calls_and_the_end_stays_empty(sb):
    sb.add_task(app_id=APP_ID, task_id=TASK_ID)
    sb.inject("raw_records", task_id=TASK_ID, times=None, records=[{"callId": 1}])
    assert page(sb, pageNo=1)["data"] == [{"callId": 1}]
    assert page(sb, pageNo=2)["count"] == 0


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("raw_records", {}, "needs records"),
        ("raw_records", {"records": {"callId": 1}}, "needs records"),
        ("garbage", {"style": "poetry"}, "style is one of"),
    ],
)
def test_faults_with_unusable_params_are_refused_when_injected(sb, kind, params, message):
    with pytest.raises(ValueError, match=message):
        sb.inject(kind, **params)
    assert sb.state()["faults"] == []


def test_faults_match_only_their_task_and_page(sb):
    ended_task(sb, 25)
    ended_task(sb, 25, task_id="66547749")
    sb.inject("busy", task_id="66547749", page_no=2, times=None)
    assert page(sb, TASK_ID, pageNo=2)["code"] == 2000
    assert page(sb, "66547749", pageNo=1)["code"] == 2000
    assert page(sb, "66547749", pageNo=2)["code"] == 5003
    assert page(sb, "66547749", pageNo=2)["code"] == 5003  # times=None: forever


def test_an_unknown_fault_kind_is_refused(sb):
    with pytest.raises(ValueError, match="unknown fault"):
        sb.inject("gremlins")


# --- upload and cancel -------------------------------------------------------------------------


def test_upload_takes_at_most_200_records(sb):
    sb.add_task(app_id=APP_ID, task_id=TASK_ID)
    answer = blu(sb, UPLOAD, {"taskId": TASK_ID, "records": people(201)})
    assert answer == {"code": 4008, "message": "at most 200 records per request"}
    assert sb.uploads == []
    assert blu(sb, UPLOAD, {"taskId": TASK_ID, "records": people(200)})["code"] == 2000


def test_upload_to_yesterdays_task_is_refused(sb):
    sb.add_task(app_id=APP_ID, task_id=TASK_ID, started_at=sb.now() - timedelta(days=1))
    answer = blu(sb, UPLOAD, {"taskId": TASK_ID, "records": people(2)})
    assert answer["code"] == 4007
    assert answer["message"] == "task expired: a taskId is valid only on the day it was made"


@pytest.mark.parametrize(
    "records",
    [
        [],
        [{"name": "No Id", "mobile": "0771234567"}],
        [{"id": 1, "name": "No Mobile"}],
        [{"id": 1, "mobile": "0771234567", "extVars": {"orderId": 1}}],  # must be a string
        [{"id": 1, "mobile": "0771234567", "name": "Anoji \U0001f600"}],  # no emoji
    ],
    ids=["empty", "no-id", "no-mobile", "ext-vars-object", "emoji"],
)
def test_upload_refuses_records_blu_would_refuse(sb, records):
    sb.add_task(app_id=APP_ID, task_id=TASK_ID)
    assert blu(sb, UPLOAD, {"taskId": TASK_ID, "records": records})["code"] == 4000


def test_uploaded_people_are_called_from_the_upload_on(sb):
    sb.add_task(app_id=APP_ID, task_id=TASK_ID, calls=2, pace_seconds=30)
    uploaded = people(3, name="Dinithi Perera")
    uploaded[2]["extVars"] = "orderId=20002"
    assert blu(sb, UPLOAD, {"taskId": int(TASK_ID), "records": uploaded})["code"] == 2000
    assert sb.uploads[0]["task_id"] == TASK_ID and len(sb.uploads[0]["records"]) == 3
    sb.advance(3600)
    records = sb.records(TASK_ID)
    assert len(records) == 5
    tail = records[2:]
    assert [r["name"] for r in tail] == ["Dinithi Perera"] * 3
    assert [r["phone"] for r in tail] == ["0771***0000", "0771***0001", "0771***0002"]
    assert [r["extVars"] for r in tail] == [u["extVars"] for u in uploaded]
    assert [r["callId"] % 1000 for r in tail] == [3, 4, 5]
    assert tail[0]["startTime"] > records[1]["startTime"]


def test_cancel_is_recorded_and_stops_a_call_not_yet_made(sb):
    sb.add_task(app_id=APP_ID, task_id=TASK_ID, calls=3, pace_seconds=60)
    blu(sb, UPLOAD, {"taskId": TASK_ID, "records": people(1)})
    body = {"taskId": int(TASK_ID), "mobile": "07710000000", "orderId": 20000}
    assert blu(sb, CANCEL, body) == {"code": 2000, "message": "success"}
    assert sb.cancels == [
        {
            "app_id": APP_ID,
            "task_id": TASK_ID,
            "mobile": "07710000000",
            "order_id": 20000,
            "cancelled": 1,
        }
    ]
    sb.advance(3600)
    cancelled = sb.records(TASK_ID)[-1]
    assert (cancelled["code"], cancelled["answerTime"], cancelled["duration"]) == (
        "Taskcancel",
        "",
        0,
    )


def test_cancel_needs_a_known_task_and_a_mobile(sb):
    sb.add_task(app_id=APP_ID, task_id=TASK_ID)
    assert blu(sb, CANCEL, {"taskId": "404", "mobile": "0771234567"})["code"] == 4006
    assert blu(sb, CANCEL, {"taskId": TASK_ID, "orderId": 1})["code"] == 4000
    assert sb.cancels == []


# --- callbacks ---------------------------------------------------------------------------------


class Receiver:
    """A merchant's callback endpoint: answers the given statuses in turn, then 200."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        self.url = ""

    def answer(self, body: bytes) -> int:
        with self.lock:
            self.bodies.append(json.loads(body))
            return self.statuses.pop(0) if self.statuses else 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    merchant = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            status = merchant.answer(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    merchant.url = f"http://127.0.0.1:{server.server_port}/blu/callback/token"
    yield merchant
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def callback_sb(receiver) -> Iterator[Sandbox]:
    """A sandbox posting to `receiver`, stopped before the receiver is."""
    with Sandbox(tick_seconds=0.05, callback_retry_seconds=0.1, callback_max_retries=2) as sandbox:
        sandbox.add_account(app_id=APP_ID, app_key=APP_KEY, time_zone=ZONE)
        sandbox.set_callback_url(APP_ID, receiver.url)
        yield sandbox


def test_each_call_that_ends_is_posted_once_as_blu_does(callback_sb, receiver):
    callback_sb.add_task(app_id=APP_ID, task_id=TASK_ID, calls=3, pace_seconds=10)
    callback_sb.advance(3600)
    assert wait_for(lambda: len(callback_sb.callback_log) == 3, seconds=5)
    records = {r["callId"]: r for r in callback_sb.records(TASK_ID)}
    assert len(receiver.bodies) == 3
    for body in receiver.bodies:
        assert body["taskId"] == int(TASK_ID)
        (record,) = body["records"]
        assert record == records[record["callId"]]
    assert {(e["url"], e["http_status"], e["attempt"]) for e in callback_sb.callback_log} == {
        (receiver.url, 200, 1)
    }


def test_a_failed_callback_is_retried_until_the_merchant_answers_200(callback_sb, receiver):
    receiver.statuses = [500, 503]
    callback_sb.add_task(app_id=APP_ID, task_id=TASK_ID, calls=1, pace_seconds=10)
    callback_sb.advance(3600)
    assert wait_for(lambda: len(callback_sb.callback_log) == 3, seconds=5)
    log = callback_sb.callback_log
    assert [(e["attempt"], e["http_status"]) for e in log] == [(1, 500), (2, 503), (3, 200)]
    assert receiver.bodies[0] == receiver.bodies[1] == receiver.bodies[2]
    assert callback_sb.pending_callbacks == 0


def test_a_callback_is_dropped_after_the_last_retry(callback_sb, receiver):
    receiver.statuses = [500] * 10
    callback_sb.add_task(app_id=APP_ID, task_id=TASK_ID, calls=1, pace_seconds=10)
    callback_sb.advance(3600)
    assert wait_for(
        lambda: len(callback_sb.callback_log) == 3 and callback_sb.pending_callbacks == 0, seconds=5
    )
    assert [e["attempt"] for e in callback_sb.callback_log] == [1, 2, 3]  # max_retries=2
    assert len(receiver.bodies) == 3


def test_an_unreachable_merchant_counts_as_a_failure(callback_sb):
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_port  # nothing listens there once closed
    callback_sb.set_callback_url(APP_ID, f"http://127.0.0.1:{port}/callback")
    callback_sb.add_task(app_id=APP_ID, task_id=TASK_ID, calls=1, pace_seconds=10)
    callback_sb.advance(3600)
    assert wait_for(lambda: len(callback_sb.callback_log) == 3, seconds=5)
    assert [e["http_status"] for e in callback_sb.callback_log] == [None, None, None]


def test_duplicate_callback_delivers_each_record_twice(callback_sb, receiver):
    callback_sb.inject("duplicate_callback", times=None)
    callback_sb.add_task(app_id=APP_ID, task_id=TASK_ID, calls=2, pace_seconds=10)
    callback_sb.advance(3600)
    assert wait_for(lambda: len(receiver.bodies) == 4, seconds=5)
    call_ids = sorted(body["records"][0]["callId"] for body in receiver.bodies)
    assert call_ids[0] == call_ids[1] != call_ids[2] == call_ids[3]


# --- the sandbox's own surface -----------------------------------------------------------------


def test_the_request_log_records_every_api_answer(sb):
    ended_task(sb, 3)
    page(sb)
    blu(sb, QUERY, {"taskId": TASK_ID}, signed_headers(APP_ID, "wrong"))
    sb.inject("http500")
    post(sb, QUERY, {"taskId": TASK_ID})
    log = sb.request_log
    assert [(e["path"], e["app_id"], e["code"], e["http_status"]) for e in log] == [
        (QUERY, APP_ID, 2000, 200),
        (QUERY, APP_ID, 4005, 200),
        (QUERY, APP_ID, None, 500),
    ]
    assert log[0]["body"] == {"taskId": TASK_ID}


def test_control_endpoints_drive_the_sandbox_without_credentials(sb):
    def control(method: str, name: str, body: dict | None = None) -> requests.Response:
        return requests.request(method, f"{sb.url}/_sandbox/{name}", json=body, timeout=5)

    assert control("POST", "accounts", {"appId": "30003", "appKey": "k3"}).status_code == 200
    task = {"appId": "30003", "taskId": "555", "calls": 4, "startedMinutesAgo": 120}
    assert control("POST", "tasks", task).status_code == 200
    assert control("POST", "faults", {"kind": "busy", "taskId": "555", "times": None}).ok
    assert control("POST", "clock", {"advanceSeconds": 60}).ok
    state = control("GET", "state").json()
    assert {"appId": "30003", "timeZone": "Asia/Colombo", "callbackUrl": None} in state["accounts"]
    assert "appKey" not in json.dumps(state) and "k3" not in json.dumps(state)
    (summary,) = [t for t in state["tasks"] if t["appId"] == "30003"]
    assert (summary["taskId"], summary["calls"], summary["final"]) == (555, 4, 4)
    assert state["faults"][0]["kind"] == "busy"
    assert control("DELETE", "faults").ok and sb.state()["faults"] == []
    assert control("POST", "tasks", {"appId": "30003"}).status_code == 400
    assert control("POST", "faults", {"kind": "gremlins"}).status_code == 400


def test_a_world_file_sets_up_accounts_and_tasks(tmp_path):
    world = tmp_path / "world.json"
    world.write_text(
        json.dumps(
            {
                "maxPageSize": 5,
                "accounts": [{"appId": APP_ID, "appKey": APP_KEY, "timeZone": ZONE}],
                "tasks": [
                    {"appId": APP_ID, "taskId": TASK_ID, "calls": 12, "startedMinutesAgo": 600},
                    {
                        "appId": APP_ID,
                        "taskId": "66547749",
                        "calls": 3,
                        "startedAt": "2024-08-15T10:00:00+05:30",
                        "withScript": True,
                    },
                ],
            }
        )
    )
    with Sandbox() as sandbox:
        load_world(sandbox, world)
        assert sandbox.max_page_size == 5
        assert page(sandbox)["count"] == 5
        assert len(sandbox.records(TASK_ID)) == 12
        assert sandbox.task("66547749").started_at.isoformat() == "2024-08-15T04:30:00+00:00"
    world.write_text('{"tasks": [{"appId": "nobody", "taskId": "1"}]}')
    with pytest.raises(ValueError, match=r"tasks\[0\]"):
        load_world(Sandbox(), world)


def test_stop_is_idempotent_and_closes_the_port():
    sandbox = Sandbox()
    url = sandbox.start()
    with requests.Session() as session:  # a kept-alive connection must not hold stop() up
        assert session.get(f"{url}/_sandbox/state", timeout=5).ok
        sandbox.stop()
        sandbox.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/_sandbox/state", timeout=5)
