"""`manage.py blu`: what an admin types, and what they see."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from calls.ingest import sync
from calls.models import AuditEvent, BluAccount, CallRecord, SyncRun, Task
from tests.helpers import APP_ID, APP_KEY, CANARY_KEY, CANARY_SECRET, add_account


def blu(*args) -> str:
    out = StringIO()
    call_command("blu", *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def app_key_env(monkeypatch):
    monkeypatch.setenv("BLU_APP_KEY", APP_KEY)


def test_account_add_stores_the_key_encrypted_and_never_prints_it(db, sandbox, app_key_env):
    out = blu("account", "add", "collections", "--base-url", sandbox.url, "--app-id", APP_ID)

    account = BluAccount.objects.get(name="collections")
    assert APP_KEY not in out and APP_KEY not in account.app_key_encrypted
    assert account.credentials().app_key == APP_KEY
    assert f"callback: http://127.0.0.1:8000/blu/callback/{account.callback_token}/" in out


def test_an_account_added_from_the_command_line_is_in_the_audit_log(db, monkeypatch, sandbox):
    monkeypatch.setenv("BLU_APP_KEY", CANARY_KEY)
    blu("account", "add", "recoveries", "--base-url", sandbox.url, "--app-id", "10002")

    (event,) = AuditEvent.objects.filter(action=AuditEvent.Action.ACCOUNT_ADDED)
    assert event.target == "recoveries"
    assert event.details["app_id"] == "10002"
    assert CANARY_SECRET not in repr(event.details)


def test_account_show_prints_the_callback_url_and_the_key_masked(account):
    out = blu("account", "show", "collections")
    assert (
        f"callback: http://127.0.0.1:8000/blu/callback/{account.callback_token}/"
        in out.splitlines()
    )
    assert f"app key: {account.masked_app_key} (stored encrypted, never shown)" in out.splitlines()
    assert APP_KEY not in out and account.masked_app_key.endswith(APP_KEY[-4:])


def test_account_list_lists_accounts(account):
    assert "collections" in blu("account", "list")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base-url", "not a url", "--app-id", "1"], "base_url: Enter a valid URL"),
        (
            ["--base-url", "http://blu.test", "--app-id", "1", "--time-zone", "Mars/Base"],
            "not an IANA time zone",
        ),
    ],
)
def test_bad_account_input_gets_one_clear_line_and_changes_nothing(db, app_key_env, args, message):
    with pytest.raises(CommandError, match=message):
        blu("account", "add", "collections", *args)
    assert not BluAccount.objects.exists()


def test_the_command_line_refuses_such_an_app_id_too(db, sandbox, app_key_env):
    # As the admin's form does: see test_admin.py.
    with pytest.raises(CommandError, match="letters, digits"):
        blu("account", "add", "recoveries", "--base-url", sandbox.url, "--app-id", "10001\u200b")
    assert not BluAccount.objects.exists()


def test_a_key_on_no_terminal_and_no_env_is_refused(db, monkeypatch):
    monkeypatch.delenv("BLU_APP_KEY", raising=False)
    with pytest.raises(CommandError, match="Set BLU_APP_KEY"):
        blu("account", "add", "x", "--base-url", "http://blu.test", "--app-id", "1")
    assert not BluAccount.objects.exists()


def test_a_second_account_of_the_same_name_is_refused(account, app_key_env):
    with pytest.raises(CommandError, match="exists already"):
        blu("account", "add", "collections", "--base-url", "http://blu.test", "--app-id", "1")


def test_task_add_queues_the_new_tasks_first_sync_once(account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as first:
        blu("task", "add", "66547748", "--account", "collections")
    with django_capture_on_commit_callbacks() as again:
        blu("task", "add", "66547748", "--account", "collections")

    assert len(first) == 1 and again == []


def test_task_add_registers_a_task(account):
    out = blu("task", "add", "66547748", "--account", "collections")
    assert "queued for a sync" in out
    assert Task.objects.get().blu_task_id == "66547748"
    assert "registered already" in blu("task", "add", "66547748", "--account", "collections")
    assert Task.objects.count() == 1


def test_task_add_of_a_task_blu_did_not_know_polls_it_again(
    account, django_capture_on_commit_callbacks
):
    Task.objects.create(account=account, blu_task_id="404", is_polled=False, blu_unknown_tries=4)
    with django_capture_on_commit_callbacks() as queued:
        out = blu("task", "add", "404", "--account", "collections")

    assert "Blu did not know task 404 of collections; it is polled again" in out
    task = Task.objects.get()
    assert task.is_polled and task.blu_unknown_tries == 0 and len(queued) == 1


def test_task_add_for_an_unknown_account_changes_nothing(db):
    with pytest.raises(CommandError, match="No Blu account named 'nobody'"):
        blu("task", "add", "1", "--account", "nobody")
    assert not Task.objects.exists()


def test_sync_prints_progress_and_a_summary(make_task):
    make_task("66547748", calls=12)
    make_task("66547749", calls=8)

    out = blu("sync", "--account", "collections")

    assert "collections/66547748: 2 pages, 12 new" in out
    assert "Synced 2 tasks: 4 pages, 20 created, 0 changed, 0 skipped, 0 errors" in out
    assert CallRecord.objects.count() == 20


def test_sync_exits_non_zero_when_a_task_fails(make_task, sandbox):
    make_task("66547748", calls=5)
    failing = make_task("66547749", calls=5)
    sandbox.inject(
        "code", task_id=failing.blu_task_id, times=None, code=4100, message="task locked"
    )

    with pytest.raises(CommandError, match="1 of 2 tasks failed") as caught:
        blu("sync")

    assert caught.value.returncode == 2
    assert CallRecord.objects.count() == 5


def test_sync_of_an_unknown_task_says_so(account):
    with pytest.raises(CommandError, match="No task 999 is registered"):
        blu("sync", "--task", "999")


def test_bad_input_is_reported_before_the_key_is_asked_for(db, monkeypatch):
    monkeypatch.delenv("BLU_APP_KEY", raising=False)
    with pytest.raises(CommandError, match="base_url: Enter a valid URL"):
        blu("account", "add", "x", "--base-url", "nope", "--app-id", "1")


def test_summaries_rebuilds_the_counts_pages_read(make_task):
    from calls.models import TaskDaySummary

    task = make_task(calls=9)
    sync.sync_task(task)
    TaskDaySummary.objects.all().delete()
    Task.objects.filter(pk=task.pk).update(calls_total=0, code_counts={})

    out = StringIO()
    call_command("blu", "summaries", stdout=out)

    task.refresh_from_db()
    assert "Rebuilt the summaries of 1 tasks." in out.getvalue()
    assert task.calls_total == 9 and sum(task.code_counts.values()) == task.calls_final
    assert sum(TaskDaySummary.objects.values_list("calls", flat=True)) == 9


@pytest.mark.parametrize("task_id", ["abc", "12 34", "4x4", "1" * 21])
def test_task_add_refuses_what_is_no_blu_task_id(account, task_id):
    with pytest.raises(CommandError, match="task id"):
        blu("task", "add", task_id, "--account", "collections")
    assert not Task.objects.exists()


def test_sync_of_a_task_id_two_accounts_share_asks_which(account):
    other = add_account("recoveries")
    Task.objects.create(account=account, blu_task_id="555")
    Task.objects.create(account=other, blu_task_id="555")

    with pytest.raises(CommandError, match=r"registered for 2 accounts .*say which with --account"):
        blu("sync", "--task", "555")
    assert not SyncRun.objects.exists()
