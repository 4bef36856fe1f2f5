"""The client against Blu faked at the HTTP boundary with `responses`."""

import json
import socket

import pytest
import requests
import responses

from calls.blu import client
from calls.blu.signing import sign
from tests.helpers import APP_KEY, free_port

BASE = "https://blu.example.test"
QUERY = f"{BASE}/rest/v1/queryCallResult"
KEY = "k3y-that-must-stay-home"
CREDS = client.Credentials(account="collections", base_url=BASE, app_id="10001", app_key=KEY)


def page(*call_ids):
    return {
        "code": 2000,
        "message": "success",
        "count": len(call_ids),
        "data": [{"callId": c, "taskId": 5573} for c in call_ids],
    }


@responses.activate
def test_every_request_is_signed_with_its_own_timestamp():
    responses.post(QUERY, json=page(1))
    client.query_page(CREDS, "5573", 1, 10)
    request = responses.calls[0].request
    assert request.headers["sign"] == sign("10001", KEY, request.headers["timeStamp"])
    assert KEY not in request.body.decode() and KEY not in str(request.headers)
    assert json.loads(request.body) == {"taskId": "5573", "pageNo": 1, "pageSize": 10}


@responses.activate
def test_short_pages_do_not_end_the_task_only_an_empty_page_does():
    responses.post(QUERY, json=page(1, 2))  # fewer than asked for: Blu may cap quietly
    responses.post(QUERY, json=page(3))
    responses.post(QUERY, json=page())
    pages = list(client.iter_pages(CREDS, "5573", page_size=10))
    assert [[r["callId"] for r in p] for p in pages] == [[1, 2], [3]]
    assert [json.loads(c.request.body)["pageNo"] for c in responses.calls] == [1, 2, 3]


@responses.activate
def test_temporary_errors_of_the_query_are_retried():
    responses.post(QUERY, status=502)
    responses.post(QUERY, body='{"code": 2000, "data": [')  # cut off
    responses.post(QUERY, json={"code": 5003, "message": "System busy, please try again later"})
    responses.post(QUERY, json=page(7))
    assert client.query_page(CREDS, "5573", 1, 10) == [{"callId": 7, "taskId": 5573}]
    assert len(responses.calls) == 4


@responses.activate
def test_retries_are_bounded_and_the_error_names_account_and_endpoint_not_the_key(settings):
    settings.BLUDASH_BLU_RETRIES = 3
    responses.post(QUERY, status=500)
    with pytest.raises(client.BluTemporaryError) as caught:
        client.query_page(CREDS, "5573", 1, 10)
    assert len(responses.calls) == 3
    message = str(caught.value)
    assert "collections" in message and "queryCallResult" in message and "500" in message
    assert KEY not in message and KEY not in repr(caught.value.args)


@responses.activate
def test_a_non_success_code_is_permanent_and_keeps_blus_code_and_message():
    responses.post(QUERY, json={"code": 4005, "message": "sign error"})
    with pytest.raises(client.BluPermanentError) as caught:
        client.query_page(CREDS, "5573", 1, 10)
    assert caught.value.code == 4005 and caught.value.blu_message == "sign error"
    assert len(responses.calls) == 1


@responses.activate
def test_a_connection_failure_is_temporary():
    with pytest.raises(client.BluTemporaryError, match="cannot reach Blu"):
        client.query_page(CREDS, "5573", 1, 10)  # no response registered: connection refused


@pytest.mark.parametrize("base_url", ["ftp://blu.example.test", "blu.example.test", "https://"])
def test_a_base_url_requests_cannot_fetch_is_permanent_and_asked_once(base_url, caplog):
    # An account saved before the forms refused such a URL: retrying cannot make it one.
    creds = client.Credentials("collections", base_url=base_url, app_id="10001", app_key=KEY)
    with pytest.raises(client.BluPermanentError, match="base URL"):
        client.query_page(creds, "5573", 1, 10)
    assert "retrying" not in caplog.text


# --- no answer at all: the host and the cause, over real sockets ---------------------------------


def unreachable(base_url: str) -> str:
    """The message of the error a query to `base_url` ends with (asked once)."""
    creds = client.Credentials("collections", base_url, "10001", KEY)
    with pytest.raises(client.BluUnreachable) as caught:
        client.query_page(creds, "5573", 1, 10, retry=False)
    message = str(caught.value)
    assert KEY not in message
    return caught.value.blu_message


def test_a_refused_connection_names_the_host_and_port_and_says_refused():
    port = free_port()
    assert unreachable(f"http://127.0.0.1:{port}") == (
        f"cannot reach Blu at 127.0.0.1:{port}: connection refused"
    )


def test_a_host_name_that_does_not_resolve_is_named():
    # .invalid never resolves (RFC 2606), whatever the machine's resolver.
    assert unreachable("https://api.blu.invalid") == (
        "cannot reach Blu at api.blu.invalid: the host name does not resolve"
    )


def test_a_blu_that_accepts_but_never_answers_is_a_timeout_with_its_seconds(settings):
    settings.BLUDASH_BLU_READ_TIMEOUT = 0.3
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        assert unreachable(f"http://127.0.0.1:{port}") == (
            f"no answer from Blu at 127.0.0.1:{port} within 0.3 s"
        )


@responses.activate
def test_a_connection_that_times_out_says_after_how_long(settings):
    settings.BLUDASH_BLU_CONNECT_TIMEOUT = 5
    responses.post(QUERY, body=requests.ConnectTimeout("timed out"))
    assert unreachable(BASE) == "cannot reach Blu at blu.example.test: timed out after 5 s"


def test_tls_spoken_to_a_plain_http_server_says_the_handshake_failed(sandbox):
    https = sandbox.url.replace("http://", "https://")
    host = https.removeprefix("https://")
    assert unreachable(https) == f"cannot reach Blu at {host}: the TLS handshake failed"


def test_an_unreachable_blu_never_shows_the_url_path_or_a_user_in_it():
    port = free_port()
    message = unreachable(f"http://someone:pw@127.0.0.1:{port}/gateway")
    assert "someone" not in message and "pw" not in message and "gateway" not in message


@responses.activate
def test_cancel_is_never_retried():
    responses.post(f"{BASE}/rest/v1/taskCancelPhoneCall", status=503)
    with pytest.raises(client.BluTemporaryError):
        client.cancel_call(CREDS, "66635573", "13688888888", order_id=123456)
    assert len(responses.calls) == 1
    assert json.loads(responses.calls[0].request.body) == {
        "taskId": 66635573,
        "mobile": "13688888888",
        "orderId": 123456,
    }


@responses.activate
def test_an_upload_timeout_says_the_chunk_may_or_may_not_have_been_taken():
    url = f"{BASE}/rest/v1/uploadAndStartJob"
    responses.post(url, json={"code": 2000, "message": "success"})
    responses.post(url, status=500)
    records = [{"id": n, "name": f"P{n}", "mobile": "0177****3990"} for n in range(450)]
    with pytest.raises(client.BluTemporaryError) as caught:
        client.upload_records(CREDS, "66635573", records)
    assert "200 records accepted; whether Blu took records 201-400 is unknown" in str(caught.value)
    assert [len(json.loads(c.request.body)["records"]) for c in responses.calls] == [200, 200]


@responses.activate
def test_an_upload_refusal_says_which_records_were_not_taken():
    url = f"{BASE}/rest/v1/uploadAndStartJob"
    responses.post(url, json={"code": 2000, "message": "success"})
    responses.post(url, json={"code": 4007, "message": "task expired"})
    records = [{"id": n, "name": f"P{n}", "mobile": "0177****3990"} for n in range(450)]
    with pytest.raises(client.BluPermanentError) as caught:
        client.upload_records(CREDS, "66635573", records)
    assert "code 4007: task expired (200 records accepted; records from 201 on were not)" in str(
        caught.value
    )
    assert len(responses.calls) == 2


@responses.activate
def test_upload_of_450_records_makes_three_requests():
    url = f"{BASE}/rest/v1/uploadAndStartJob"
    responses.post(url, json={"code": 2000, "message": "success"})
    records = [{"id": n, "name": f"P{n}", "mobile": "0177****3990"} for n in range(450)]
    assert client.upload_records(CREDS, "66635573", records) == 450
    assert [len(json.loads(c.request.body)["records"]) for c in responses.calls] == [200, 200, 50]


def test_credentials_never_show_the_key():
    assert KEY not in repr(CREDS) and KEY not in str(CREDS)


@responses.activate
def test_an_error_status_keeps_blus_code_and_message_from_the_body():
    responses.post(QUERY, status=401, json={"code": 4005, "message": "sign error"})
    with pytest.raises(client.BluPermanentError) as caught:
        client.query_page(CREDS, "5573", 1, 10)
    assert (caught.value.code, caught.value.blu_message, caught.value.http_status) == (
        4005,
        "sign error",
        401,
    )
    assert "HTTP 401: code 4005: sign error" in str(caught.value)


@responses.activate
def test_a_limit_in_a_refusal_is_not_taken_for_busy():
    responses.post(QUERY, json={"code": 4000, "message": "pageSize exceeds the limit"})
    with pytest.raises(client.BluPermanentError):
        client.query_page(CREDS, "5573", 1, 10)
    assert len(responses.calls) == 1


def test_errors_survive_pickling_as_celery_sends_them():
    import pickle

    error = client.BluTemporaryError("collections", "queryCallResult", "busy", code=5003)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is client.BluTemporaryError and str(copy) == str(error)
    assert copy.code == 5003 and copy.account == "collections"


def test_an_app_id_no_header_can_carry_is_a_permanent_error_that_says_so(sandbox):
    # Over real HTTP (the sandbox): `responses` never encodes headers, so it cannot show this.
    pasted = client.Credentials(
        account="collections", base_url=sandbox.url, app_id="10001\u200b", app_key=KEY
    )
    with pytest.raises(client.BluPermanentError, match="appId has characters"):
        client.query_page(pasted, "5573", 1, 10)


def test_the_sandboxs_answer_for_a_task_it_does_not_know_reads_as_task_unknown(sandbox):
    # Over real HTTP: what the sandbox answers for a taskId it has never heard of (HTTP 200,
    # code 4006, "task not found") is what the sync's retry schedule keys on.
    creds = client.Credentials(
        account="collections", base_url=sandbox.url, app_id="10001", app_key=APP_KEY
    )
    with pytest.raises(client.BluTaskUnknown, match="task not found") as caught:
        client.query_page(creds, "404404", 1, 10)
    assert isinstance(caught.value, client.BluPermanentError) and caught.value.code == 4006


@pytest.mark.parametrize(
    "message",
    ["task not found", "Task does not exist", "taskId not exist", "no such task: 5573"],
)
@responses.activate
def test_blus_words_for_a_task_it_does_not_know_are_told_from_other_refusals(message):
    # Blu publishes no error table: its message is all there is to go on, as for "busy".
    responses.post(QUERY, json={"code": 4999, "message": message})
    with pytest.raises(client.BluTaskUnknown):
        client.query_page(CREDS, "5573", 1, 10)
    assert len(responses.calls) == 1


@pytest.mark.parametrize("message", ["sign error", "invalid appId", "no task permission"])
@responses.activate
def test_a_refusal_that_is_not_about_the_task_is_no_task_unknown(message):
    responses.post(QUERY, json={"code": 4003, "message": message})
    with pytest.raises(client.BluPermanentError) as caught:
        client.query_page(CREDS, "5573", 1, 10)
    assert not isinstance(caught.value, client.BluTaskUnknown)
