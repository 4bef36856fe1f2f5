"""Blu's dial-result callback: strict at the door, idempotent behind it."""

import json
import logging
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calls.ingest import verify
from calls.models import BluAccount, CallRecord, Conclusion, Task
from tests.helpers import BLU_EXAMPLE, add_account, callback_path, post_callback, wait_for

RECORD = {**BLU_EXAMPLE, "recordUrl": ""}


def test_a_callback_stores_the_record_and_creates_its_task(client, account):
    response = post_callback(client, account, {"taskId": 66547748, "records": [RECORD]})

    assert response.status_code == 200
    call = CallRecord.objects.get()
    assert call.call_id == "123654" and call.code == "PTP" and call.duration == 40
    assert call.task == Task.objects.get(account=account, blu_task_id="66547748")


def test_the_same_record_delivered_six_times_leaves_one_record(client, account):
    for _ in range(6):
        assert (
            post_callback(client, account, {"taskId": "66547748", "records": [RECORD]}).status_code
            == 200
        )

    assert CallRecord.objects.count() == 1
    assert Task.objects.count() == 1


def test_a_changed_record_is_updated_in_place(client, account):
    post_callback(
        client, account, {"taskId": 66547748, "records": [{**RECORD, "code": "", "endTime": ""}]}
    )
    post_callback(client, account, {"taskId": 66547748, "records": [RECORD]})

    call = CallRecord.objects.get()
    assert call.code == "PTP" and call.end_time is not None


def test_a_wrong_token_gets_404_and_stores_nothing(client, account):
    response = post_callback(
        client, account, {"taskId": 1, "records": [RECORD]}, token="not-a-token"
    )
    assert response.status_code == 404
    assert not CallRecord.objects.exists()


def test_a_disabled_account_gets_404_like_an_unknown_token(client, account):
    BluAccount.objects.filter(pk=account.pk).update(is_polled=False)

    response = post_callback(client, account, {"taskId": 66547748, "records": [RECORD]})

    assert response.status_code == 404
    assert not CallRecord.objects.exists() and not Task.objects.exists()


@pytest.mark.parametrize(
    "near_miss",
    [
        lambda token: token[:-1] + ("B" if token.endswith("A") else "A"),  # one character off
        lambda token: token[:-1],  # a prefix
        lambda token: token + "A",  # one character more
        lambda token: token + "A" * 500,
        lambda token: token[:-2] + "\u00e9",  # not ASCII
        lambda token: token.upper() if token.upper() != token else token.lower(),
    ],
    ids=["one-off", "prefix", "longer", "much-longer", "non-ascii", "other-case"],
)
def test_a_token_that_is_not_quite_the_accounts_gets_404(client, account, near_miss):
    token = near_miss(account.callback_token)
    response = post_callback(
        client, account, {"taskId": 66547748, "records": [RECORD]}, token=token
    )
    assert response.status_code == 404
    assert not CallRecord.objects.exists()


def test_the_callback_token_is_never_sent_to_the_database(client, account):
    # Also keeps it out of PostgreSQL's statement logs, whatever their level.
    with CaptureQueriesContext(connection) as queries:
        assert (
            post_callback(client, account, {"taskId": 66547748, "records": [RECORD]}).status_code
            == 200
        )
        post_callback(client, account, b"{}", token=account.callback_token[:-1] + "Z")

    assert queries.captured_queries
    assert not any(account.callback_token[:20] in q["sql"] for q in queries.captured_queries)


DEEP = {"taskId": 66547748, "records": [{**RECORD, "extra": json.loads("[" * 40 + "]" * 40)}]}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('{"taskId": "\xff66547748", "records": []}'.encode("latin-1"), "not UTF-8"),
        (json.dumps({"taskId": 66547748, "records": [RECORD]}).encode("utf-16"), "not UTF-8"),
        (b'{"taskId": 66547748, "records": [{"callId": 1, "duration": NaN}]}', "NaN"),
        (b'{"taskId": 66547748, "records": [{"callId": 1, "duration": Infinity}]}', "Infinity"),
        (b'{"taskId": 66547748, "records": [{"callId": 1, "duration": -Infinity}]}', "Infinity"),
        (b'{"taskId": 66547748, "records": [{"callId": 1, "duration": 1e999}]}', "too large"),
        (b'{"taskId": 1, "taskId": 66547748, "records": [{"callId": 1}]}', "'taskId' appears"),
        (b'{"taskId": 66547748, "records": [{"callId": 1, "callId": 2}]}', "'callId' appears"),
        (DEEP, "deeper than"),
        (b"[" * 100_000 + b"]" * 100_000, "deeper than"),
        ({"taskId": 66547748, "records": {"0": RECORD}}, "not a non-empty list"),
        ({"taskId": 66547748, "records": [RECORD] * 11}, "more than 10 records"),
        ({"taskId": 66547748, "records": [{**RECORD, "callId": ""}]}, "callId is missing"),
        (b"", "empty"),
    ],
)
def test_a_body_read_strictly_is_refused_whole_with_a_plain_reason(client, account, body, says):
    response = post_callback(client, account, body)

    assert response.status_code == 400
    assert says in response.json()["message"]
    assert not CallRecord.objects.exists() and not Task.objects.exists()


def test_an_error_message_quotes_the_body_only_briefly(client, account):
    hostile = "<script>alert(1)</script>" * 400
    body = {"taskId": 66547748, "records": [{**RECORD, "taskId": hostile}]}

    message = post_callback(client, account, body).json()["message"]

    assert message == f"record 1 names task {hostile[:40]!r}..., the body task '66547748'"


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", ""])
def test_a_callback_is_read_as_json_whatever_its_content_type(client, account, content_type):
    url = callback_path(account.callback_token)
    body = json.dumps({"taskId": 66547748, "records": [RECORD]})

    response = client.post(url, data=body, content_type=content_type)

    assert response.status_code == 200
    assert CallRecord.objects.get().call_id == "123654"


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
    response = post_callback(client, account, body)

    assert response.status_code == 400
    assert response.json()["message"]
    assert not CallRecord.objects.exists() and not Task.objects.exists()


def test_a_record_with_an_unreadable_field_is_kept_with_the_problem_named(client, account):
    response = post_callback(
        client, account, {"taskId": 66547748, "records": [{**RECORD, "startTime": "soon"}]}
    )

    assert response.status_code == 200
    call = CallRecord.objects.get()
    assert call.start_time is None and call.raw["startTime"] == "soon"
    assert call.problems == ["startTime is not YYYY-MM-DD HH:MM:SS: 'soon'"]


def test_an_oversized_body_is_refused(client, account, settings):
    settings.BLUDASH_CALLBACK_MAX_BYTES = 2048
    body = {"taskId": 66547748, "records": [{**RECORD, "name": "x" * 4096}]}
    assert post_callback(client, account, body).status_code == 413
    assert not CallRecord.objects.exists()


def test_a_body_longer_than_a_content_length_it_hides_is_refused(client, account, settings):
    settings.BLUDASH_CALLBACK_MAX_BYTES = 2048
    body = json.dumps({"taskId": 66547748, "records": [{**RECORD, "name": "x" * 4096}]})
    url = callback_path(account.callback_token)

    # "+5000" is no digit string to the header check, yet a length to Django's reader.
    response = client.generic(
        "POST", url, body, content_type="application/json", CONTENT_LENGTH=f"+{len(body)}"
    )

    assert response.status_code == 413
    assert not CallRecord.objects.exists()


def test_a_body_longer_than_its_content_length_is_read_only_that_far(client, account):
    body = json.dumps({"taskId": 66547748, "records": [RECORD]})
    url = callback_path(account.callback_token)

    response = client.generic(
        "POST", url, body, content_type="application/json", CONTENT_LENGTH="20"
    )

    assert response.status_code == 400
    assert not CallRecord.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_over_real_http_is_refused_and_stores_nothing(account, live_server):
    url = live_server.url + callback_path(account.callback_token)
    body = json.dumps({"taskId": 66547748, "records": [RECORD]}).encode()

    # A generator makes requests send Transfer-Encoding: chunked, with no Content-Length.
    response = requests.post(url, data=iter([body[:100], body[100:]]), timeout=10)

    assert response.status_code == 400
    assert "chunked" in response.json()["message"]
    assert not CallRecord.objects.exists()


def test_callbacks_over_the_accounts_rate_are_refused_with_429(client, account, settings):
    settings.BLUDASH_CALLBACK_RATE_PER_MINUTE = 3
    other = add_account(
        "other", "another-sandbox-key", base_url=account.base_url, app_id="2", time_zone="UTC"
    )
    records = [{**RECORD, "callId": n} for n in range(5)]

    answers = [
        post_callback(client, account, {"taskId": 66547748, "records": [r]}) for r in records
    ]

    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[3].json() == {
        "code": 429,
        "message": "too many callbacks for this account; retry later",
    }
    assert 1 <= int(answers[3]["Retry-After"]) <= 60
    assert sorted(CallRecord.objects.values_list("call_id", flat=True)) == ["0", "1", "2"]
    # Another account's callbacks are counted apart.
    answer = post_callback(client, other, {"taskId": 5, "records": [{**RECORD, "taskId": 5}]})
    assert answer.status_code == 200


def test_new_tasks_named_by_callbacks_over_the_hourly_cap_are_refused_and_store_nothing(
    client, account, settings, django_capture_on_commit_callbacks
):
    settings.BLUDASH_CALLBACK_NEW_TASKS_PER_HOUR = 3
    # Tasks a person registered are not the callbacks' to count.
    registered = [Task.objects.create(account=account, blu_task_id=str(n)) for n in range(5)]

    def send(task_id: str, call_id: int):
        record = {**RECORD, "taskId": task_id, "callId": call_id}
        return post_callback(client, account, {"taskId": task_id, "records": [record]})

    with django_capture_on_commit_callbacks() as queued:
        answers = [send(str(100 + n), n) for n in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].json()["message"].startswith("too many new tasks from callbacks")
    assert 3500 <= int(answers[3]["Retry-After"]) <= 3600
    assert not Task.objects.filter(blu_task_id="103").exists()
    assert not CallRecord.objects.filter(call_id="3").exists()
    assert len(queued) == 3  # a sync of each task let in, none of the refused one
    # Callbacks for tasks we know go on being stored, whoever named the task first.
    assert send("100", 10).status_code == 200
    assert send(registered[0].blu_task_id, 11).status_code == 200
    # Once the first new task is an hour old there is room again.
    first = Task.objects.get(blu_task_id="100")
    Task.objects.filter(pk=first.pk).update(first_seen_at=first.first_seen_at - timedelta(hours=1))
    assert send("103", 3).status_code == 200


def test_another_accounts_callbacks_have_their_own_share_of_new_tasks(client, account, settings):
    settings.BLUDASH_CALLBACK_NEW_TASKS_PER_HOUR = 1
    other = add_account(
        "other", "another-sandbox-key", base_url=account.base_url, app_id="2", time_zone="UTC"
    )
    for each in (account, other):
        record = {**RECORD, "taskId": 5}
        assert post_callback(client, each, {"taskId": 5, "records": [record]}).status_code == 200

    assert Task.objects.filter(blu_task_id="5").count() == 2


def test_new_codes_from_callbacks_over_the_daily_cap_keep_their_calls_but_stay_unlearned(
    client, account, settings
):
    settings.BLUDASH_CALLBACK_NEW_CODES_PER_DAY = 3

    def send(call_id: int, code: str):
        record = {**RECORD, "callId": call_id, "code": code, "desc": f"Made up {code}"}
        return post_callback(client, account, {"taskId": 66547748, "records": [record]})

    answers = [send(n, f"ZZ{n}") for n in range(5)]

    assert [a.status_code for a in answers] == [200] * 5
    # Every call is stored with the code Blu sent; only three codes joined the dictionary.
    stored = dict(CallRecord.objects.values_list("call_id", "code"))
    assert stored == {str(n): f"ZZ{n}" for n in range(5)}
    learned = Conclusion.objects.filter(code__startswith="ZZ")
    assert sorted(learned.values_list("code", flat=True)) == ["ZZ0", "ZZ1", "ZZ2"]
    task = Task.objects.get()
    assert task.code_counts == {f"ZZ{n}": 1 for n in range(5)}
    assert verify.task_drift(task) == []
    # A day later there is room again: the next call with a held-back code brings it in.
    learned.update(learned_at=timezone.now() - timedelta(days=1, seconds=1))
    assert send(9, "ZZ4").status_code == 200
    assert Conclusion.objects.filter(code="ZZ4", classified=False).exists()


def test_only_post_is_accepted(client, account):
    url = callback_path(account.callback_token)
    assert client.get(url).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_delivers_callbacks_as_calls_end(sandbox, make_task, live_server):
    account = BluAccount.objects.get()
    url = live_server.url + callback_path(account.callback_token)
    sandbox.set_callback_url("10001", url)
    task = make_task(task_id="66547749", calls=6, minutes_ago=0, pace=5)

    sandbox.advance(3600)  # every call ends; the sandbox posts each one

    def delivered():
        return CallRecord.objects.filter(task=task, end_time__isnull=False).count()

    wait_for(lambda: delivered() >= 6, seconds=15)
    assert delivered() == 6


def test_the_callback_token_never_reaches_the_logs(client, account, caplog):
    caplog.set_level(logging.DEBUG)
    post_callback(client, account, b"not json")
    assert "Bad Request: /blu/callback/[token]/" in caplog.text
    assert account.callback_token not in caplog.text


def test_a_callback_posted_without_its_trailing_slash_is_stored_and_logs_no_token(
    client, account, caplog
):
    caplog.set_level(logging.DEBUG)
    url = callback_path(account.callback_token).rstrip("/")
    with override_settings(DEBUG=True):  # where Django would refuse to redirect a POST
        response = client.post(
            url, json.dumps({"taskId": 66547748, "records": [RECORD]}), "application/json"
        )
    assert response.status_code == 200 and CallRecord.objects.count() == 1
    refused = client.post(url.replace(account.callback_token, "not-a-token"), "{}", "text/plain")
    assert refused.status_code == 404
    assert account.callback_token not in caplog.text


def test_a_callback_naming_an_unknown_task_queues_its_first_sync_once(
    client, account, django_capture_on_commit_callbacks
):
    body = {"taskId": 66547748, "records": [RECORD]}
    with django_capture_on_commit_callbacks() as first:
        assert post_callback(client, account, body).status_code == 200
    with django_capture_on_commit_callbacks() as again:
        assert post_callback(client, account, body).status_code == 200

    assert len(first) == 1  # the new task's sync, queued once the callback's write committed
    assert again == []  # the task is known now: polling takes it from here


def test_a_refused_callback_creates_no_task_and_queues_nothing(
    client, account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        response = post_callback(client, account, {"taskId": 66547748, "records": "none"})

    assert response.status_code == 400
    assert queued == [] and not Task.objects.exists()


@pytest.mark.parametrize("filler", ['\\"', '"\\"', '["\\"'])
def test_a_body_of_unterminated_quotes_at_the_size_limit_is_refused_in_one_pass(
    client, account, settings, filler
):
    # The depth check used to rescan to the end from every quote: about three minutes of CPU
    # for this body, within the rate limit. Its one pass reads each character once.
    limit = settings.BLUDASH_CALLBACK_MAX_BYTES
    body = ('{"taskId": 1, "records": ["' + filler * limit)[: limit - 1]

    response = post_callback(client, account, body)

    assert response.status_code == 400 and not CallRecord.objects.exists()
