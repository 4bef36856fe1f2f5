"""Testing an account's connection to Blu: one signed query, and what Blu said in plain words."""

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from calls.health import connection
from calls.models import AuditEvent, BluAccount, Task
from tests.helpers import APP_KEY, add_account, free_port

Action = AuditEvent.Action


def button_url(account) -> str:
    return reverse("admin:calls_bluaccount_test_connection", args=[account.pk])


def connection_events() -> list[dict]:
    return [e.details for e in AuditEvent.objects.filter(action=Action.CONNECTION_TESTED)]


# --- the plain function --------------------------------------------------------------------------


def test_a_good_key_gets_success_asking_blu_for_one_record(account, make_task, sandbox):
    make_task("66547748", calls=3)

    result = connection.test_connection(account, "66547748")

    assert result.ok and result.message == "Blu answered success for task 66547748"
    (asked,) = sandbox.request_log
    assert asked["body"] == {"taskId": "66547748", "pageNo": 1, "pageSize": 1}
    assert asked["code"] == 2000
    assert connection_events() == [
        {
            "ok": True,
            "credentials_accepted": True,
            "task_id": "66547748",
            "code": None,
            "message": result.message,
        }
    ]


def test_the_task_asked_for_is_the_one_seen_most_recently(account, make_task):
    assert connection.latest_task_id(account) is None
    older, newer, unseen = make_task("1001"), make_task("1002"), make_task("1003")
    now = timezone.now()
    Task.objects.filter(pk=older.pk).update(last_seen_at=now)
    Task.objects.filter(pk=newer.pk).update(last_seen_at=now - timedelta(hours=1))
    assert connection.latest_task_id(account) == "1001"

    Task.objects.update(last_seen_at=None)
    assert connection.latest_task_id(account) == unseen.blu_task_id  # the newest registered


def test_a_wrong_key_gets_blus_code_and_message_and_is_asked_once(account, make_task, sandbox):
    make_task("66547748")
    account.set_app_key("not-the-key-blu-has-for-us")
    account.save()

    result = connection.test_connection(account, "66547748")

    assert not result.ok and not result.credentials_accepted
    assert result.message == "Blu refused: code 4005: sign error" and result.code == 4005
    assert len(sandbox.request_log) == 1
    assert connection_events()[0] | {"message": ""} == {
        "ok": False,
        "credentials_accepted": False,
        "task_id": "66547748",
        "code": 4005,
        "message": "",
    }


def test_an_app_id_blu_does_not_know_is_named(account, sandbox):
    BluAccount.objects.filter(pk=account.pk).update(app_id="99999")
    account.refresh_from_db()
    result = connection.test_connection(account, "66547748")
    assert result.message == "Blu refused: code 4003: invalid appId"


def test_a_task_blu_does_not_know_says_the_credentials_were_accepted(account, sandbox):
    result = connection.test_connection(account, "123")
    assert not result.ok and result.credentials_accepted
    assert result.message == (
        "Credentials accepted; Blu does not know task 123 (code 4006: task not found)"
    )
    assert connection_events()[0]["credentials_accepted"] is True


def test_an_unreachable_blu_is_reported_with_its_host_and_the_cause(account):
    port = free_port()
    account.base_url = f"http://127.0.0.1:{port}"
    account.save()
    result = connection.test_connection(account, "66547748")
    assert not result.ok
    assert result.message == f"Cannot reach Blu at 127.0.0.1:{port}: connection refused"


def test_a_blu_that_does_not_answer_in_time_is_reported_plainly(
    account, make_task, sandbox, settings
):
    settings.BLUDASH_BLU_READ_TIMEOUT = 0.2
    make_task("66547748")
    sandbox.inject("slow", times=None, seconds=5)
    result = connection.test_connection(account, "66547748")
    host = sandbox.url.removeprefix("http://")
    assert result.message == f"No answer from Blu at {host} within 0.2 s"


def test_a_busy_blu_is_reported_with_its_code(account, make_task, sandbox):
    make_task("66547748")
    sandbox.inject("busy", times=None)
    result = connection.test_connection(account, "66547748")
    assert result.message == "Blu is busy: code 5003: System busy, please try again later"


def test_a_key_no_fernet_key_opens_is_reported_without_asking_blu(account, sandbox, settings):
    settings.BLUDASH_FERNET_KEYS = [Fernet.generate_key().decode()]
    result = connection.test_connection(account, "66547748")
    assert not result.ok and "cannot be decrypted" in result.message
    assert sandbox.request_log == []


# --- the button on the account's page ------------------------------------------------------------


def test_the_button_tests_with_the_newest_task_and_says_so(admin_client_, account, make_task):
    make_task("66547748")

    response = admin_client_.post(button_url(account), follow=True)

    assert response.redirect_chain[-1][0] == reverse(
        "admin:calls_bluaccount_change", args=[account.pk]
    )
    assert (
        "Account collections: Blu answered success for task 66547748" in response.content.decode()
    )
    assert connection_events()[0]["ok"] is True
    assert AuditEvent.objects.get(action=Action.CONNECTION_TESTED).username == "boss"


def test_a_refusal_is_shown_as_an_error(admin_client_, account, make_task):
    make_task("66547748")
    account.set_app_key("not-the-key-blu-has-for-us")
    account.save()

    page = admin_client_.post(button_url(account), follow=True).content.decode()

    assert 'class="error">Account collections: Blu refused: code 4005: sign error' in page


def test_the_button_says_the_credentials_hold_when_only_the_task_is_unknown(
    admin_client_, account, sandbox
):
    page = admin_client_.post(
        button_url(account), {f"account-{account.pk}-task_id": "123"}, follow=True
    ).content.decode()

    assert (
        'class="warning">Account collections: Credentials accepted; Blu does not know task 123'
        in page
    )


def test_an_account_with_no_task_is_asked_for_a_task_id_first(admin_client_, account, sandbox):
    sandbox.add_task(app_id=account.app_id, task_id="555", calls=2)

    asking = admin_client_.post(button_url(account))
    assert asking.status_code == 200 and b"Blu task id" in asking.content
    assert sandbox.request_log == [] and connection_events() == []

    blank = admin_client_.post(button_url(account), {f"account-{account.pk}-task_id": " "})
    assert b"This field is required" in blank.content and sandbox.request_log == []

    done = admin_client_.post(
        button_url(account), {f"account-{account.pk}-task_id": "555"}, follow=True
    )
    assert "Blu answered success for task 555" in done.content.decode()
    assert [entry["body"]["taskId"] for entry in sandbox.request_log] == ["555"]


def test_opening_the_page_asks_blu_nothing(admin_client_, account, make_task, sandbox):
    make_task("66547748")
    page = admin_client_.get(button_url(account))
    assert page.status_code == 200 and b'value="66547748"' in page.content
    assert sandbox.request_log == [] and connection_events() == []


def test_the_button_needs_the_csrf_token(account, admin_user, make_task, sandbox):
    make_task("66547748")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    assert browser.post(button_url(account)).status_code == 403
    assert sandbox.request_log == [] and connection_events() == []


@pytest.mark.parametrize("person", ["staff_user", "manager"])
def test_staff_and_managers_cannot_test_a_connection(client, request, account, make_task, person):
    make_task("66547748")
    client.force_login(request.getfixturevalue(person))
    changelist = reverse("admin:calls_bluaccount_changelist")
    action = {"_selected_action": [account.pk], "index": 0, "action": "test_connection"}
    for response in (client.post(button_url(account)), client.post(changelist, action)):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    assert connection_events() == []


# --- the action on the account list --------------------------------------------------------------


def test_the_list_action_tests_each_account_asking_only_for_missing_task_ids(
    admin_client_, account, make_task, sandbox
):
    make_task("66547748")
    sandbox.add_account(app_id="10002", app_key="second-sandbox-key-4e21")
    sandbox.add_task(app_id="10002", task_id="777", calls=1)
    other = add_account(
        "recoveries", "second-sandbox-key-4e21", base_url=sandbox.url, app_id="10002"
    )
    changelist = reverse("admin:calls_bluaccount_changelist")
    selected = {"_selected_action": [account.pk, other.pk], "action": "test_connection"}

    asking = admin_client_.post(changelist, {**selected, "index": 0})
    assert asking.status_code == 200
    page = asking.content.decode()
    assert f'name="account-{other.pk}-task_id"' in page
    assert f'name="account-{account.pk}-task_id"' not in page
    assert sandbox.request_log == []

    done = admin_client_.post(changelist, {**selected, f"account-{other.pk}-task_id": "777"})
    assert done.status_code == 302
    shown = admin_client_.get(changelist).content.decode()
    assert "Account collections: Blu answered success for task 66547748" in shown
    assert "Account recoveries: Blu answered success for task 777" in shown
    assert sorted(d["task_id"] for d in connection_events()) == ["66547748", "777"]
    assert APP_KEY not in shown
