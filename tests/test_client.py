"""The client against Blu faked at the HTTP boundary with `responses`."""

import json

import pytest
import responses

from calls.blu import client
from calls.blu.signing import sign

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
def test_upload_goes_in_chunks_of_200_and_stops_at_the_first_failure():
    url = f"{BASE}/rest/v1/uploadAndStartJob"
    responses.post(url, json={"code": 2000, "message": "success"})
    responses.post(url, status=500)
    records = [{"id": n, "name": f"P{n}", "mobile": "0177****3990"} for n in range(450)]
    with pytest.raises(client.BluTemporaryError, match="after 200 records were accepted"):
        client.upload_records(CREDS, "66635573", records)
    assert [len(json.loads(c.request.body)["records"]) for c in responses.calls] == [200, 200]


@responses.activate
def test_upload_of_450_records_makes_three_requests():
    url = f"{BASE}/rest/v1/uploadAndStartJob"
    responses.post(url, json={"code": 2000, "message": "success"})
    records = [{"id": n, "name": f"P{n}", "mobile": "0177****3990"} for n in range(450)]
    assert client.upload_records(CREDS, "66635573", records) == 450
    assert [len(json.loads(c.request.body)["records"]) for c in responses.calls] == [200, 200, 50]


def test_credentials_never_show_the_key():
    assert KEY not in repr(CREDS) and KEY not in str(CREDS)
