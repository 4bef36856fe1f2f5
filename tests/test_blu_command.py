"""`manage.py blu`: what an admin types, and what they see."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from calls.ingest import sync
from calls.models import AuditEvent, BluAccount, CallRecord, SyncRun, Task
from tests.helpers import APP_ID, APP_KEY, CANARY_KEY, CANARY_SECRET, add_account


def blu(*args) -> str:
    out = StringIO()
    call_command("blu", *args, stdout=out, stderr=out)
    return out.getvalue()


def two_hours_ago(sandbox):
    return sandbox.now() - timedelta(hours=2)


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
        (["--base-url", "not a url", "--app-id", "1"], "--base-url: Enter a valid URL"),
        (
            ["--base-url", "ftp://api.blu.example", "--app-id", "1"],
            "--base-url: Blu's API is reached over https:// or http://, not ftp://",
        ),
        (
            ["--base-url", "http://blu.test", "--app-id", "1", "--time-zone", "Mars/Base"],
            "not an IANA time zone",
        ),
    ],
)
def test_bad_account_input_is_named_by_its_option(db, app_key_env, args, message):
    with pytest.raises(CommandError, match=message):
        blu("account", "add", "collections", *args)
    assert not BluAccount.objects.exists()


def test_account_add_reports_every_bad_value_at_once_and_changes_nothing(account, app_key_env):
    with pytest.raises(CommandError) as caught:
        blu(
            "account",
            "add",
            "collections",
            "--base-url",
            "not a url",
            "--app-id",
            "10001\u200b",
            "--time-zone",
            "Mars/Base",
        )

    lines = str(caught.value).splitlines()
    assert lines[0] == "Account not added:"
    assert "  name: an account named 'collections' exists already" in lines
    assert "  --base-url: Enter a valid URL." in lines
    assert any(line.startswith("  --app-id: An appId is letters, digits") for line in lines)
    assert "  --time-zone: 'Mars/Base' is not an IANA time zone such as Asia/Colombo" in lines
    assert list(BluAccount.objects.values_list("name", flat=True)) == ["collections"]


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


def test_sync_counts_read_in_the_singular_when_there_is_one(make_task, sandbox):
    make_task("66547748", calls=5)  # one page of the sandbox's seven

    out = blu("sync")

    assert "collections/66547748: 1 page, 5 new, 0 changed, 0 unchanged, 0 skipped" in out
    assert "Synced 1 task: 1 page, 5 created, 0 changed, 0 skipped, 0 errors" in out
    sandbox.inject("code", task_id="66547748", times=None, code=4100, message="task locked")
    failed = StringIO()
    with pytest.raises(CommandError, match="1 of 1 task failed to sync"):
        call_command("blu", "sync", stdout=failed, stderr=failed)
    assert "Synced 1 task: 0 pages, 0 created, 0 changed, 0 skipped, 1 error" in failed.getvalue()


def test_other_counts_read_in_the_singular_too(make_task):
    make_task("66547748", calls=5)
    blu("sync")

    assert "collections\tappId 10001" in blu("account", "list")
    assert blu("account", "list").rstrip().endswith("\t1 task")
    assert "Rebuilt the summaries of 1 task." in blu("summaries")
    assert "The figures of the 1 task match their calls." in blu("verify")
    assert "re-read 5 calls" in blu("reread")
    assert "Re-encrypted 1 app key with the newest Fernet key." in blu("rotate-keys")


def test_sync_exits_non_zero_when_a_task_fails(make_task, sandbox):
    make_task("66547748", calls=5)
    failing = make_task("66547749", calls=5)
    sandbox.inject(
        "code", task_id=failing.blu_task_id, times=None, code=4100, message="task locked"
    )

    failed = r"1 of 2 tasks failed to sync: collections/66547749\."
    with pytest.raises(CommandError, match=failed) as caught:
        blu("sync")

    assert caught.value.returncode == 2
    assert CallRecord.objects.count() == 5


def test_sync_of_an_unknown_task_says_so(account):
    with pytest.raises(CommandError, match="No task 999 is registered"):
        blu("sync", "--task", "999")


def test_bad_input_is_reported_before_the_key_is_asked_for(db, monkeypatch):
    monkeypatch.delenv("BLU_APP_KEY", raising=False)
    with pytest.raises(CommandError, match="--base-url: Enter a valid URL"):
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
    assert "Rebuilt the summaries of 1 task." in out.getvalue()
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


# --- tasks: add --sync, list, disable, enable, remove --------------------------------------------


def blu_failing(*args) -> tuple[CommandError, str]:
    """The error a `blu` command ends with, and what it printed before."""
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("blu", *args, stdout=out, stderr=out)
    return caught.value, out.getvalue()


def test_task_add_with_sync_stores_the_calls_now_and_queues_nothing(
    account, sandbox, django_capture_on_commit_callbacks
):
    sandbox.add_task(app_id=APP_ID, task_id="66547748", calls=12, started_at=two_hours_ago(sandbox))

    with django_capture_on_commit_callbacks() as queued:
        out = blu("task", "add", "66547748", "--account", "collections", "--sync")

    assert "Added task 66547748 to collections; syncing it now." in out
    assert "collections/66547748: 2 pages, 12 new, 0 changed, 0 unchanged, 0 skipped" in out
    assert CallRecord.objects.count() == 12
    assert queued == []  # no worker sync besides the one just run


def test_task_add_with_sync_of_a_task_blu_refuses_keeps_it_and_exits_non_zero(account, sandbox):
    error, out = blu_failing("task", "add", "424242", "--account", "collections", "--sync")

    assert error.returncode == 2 and "1 of 1 task failed to sync" in str(error)
    assert "collections/424242: failed: " in out and "task not found" in out
    assert Task.objects.get().blu_task_id == "424242"  # registered: Blu may know it later


def test_task_add_is_audited_as_the_tasks_page_audits_it(account):
    blu("task", "add", "66547748", "--account", "collections")
    blu("task", "add", "66547748", "--account", "collections")  # known already: nothing new

    (event,) = AuditEvent.objects.filter(action=AuditEvent.Action.TASK_REGISTERED)
    assert event.target == "collections/66547748"


def test_task_list_shows_each_tasks_account_id_state_last_sync_and_calls(make_task, sandbox):
    synced = make_task("66547748", calls=12)
    blu("sync", "--task", "66547748")
    make_task("66547749", calls=3)
    Task.objects.filter(blu_task_id="66547749").update(is_polled=False)
    other = add_account("recoveries", is_polled=False)
    Task.objects.create(account=other, blu_task_id="555", name="Other")
    synced.refresh_from_db()

    lines = blu("task", "list").splitlines()

    when = timezone.localtime(synced.last_sync_at).strftime("%Y-%m-%d %H:%M:%S")
    assert lines == [
        f"account\ttask\tname\tpolling\tlast sync ({timezone.get_current_timezone_name()})\tcalls",
        f"collections\t66547748\tTask 66547748\tpolled\t{when} ok\t12 calls",
        "collections\t66547749\tTask 66547749\tnot polled\tnever\t0 calls",
        "recoveries\t555\tOther\tnot polled (account disabled)\tnever\t0 calls",
    ]
    assert blu("task", "list", "--account", "recoveries").splitlines()[1:] == lines[3:]


def test_task_list_shows_a_failed_sync_with_its_error(make_task, sandbox):
    make_task("66547748", calls=3)
    sandbox.inject("code", task_id="66547748", times=None, code=4100, message="task locked")
    blu_failing("sync")

    (row,) = blu("task", "list").splitlines()[1:]
    assert row.endswith(
        " failed: Blu queryCallResult for account 'collections': code 4100: task locked\t0 calls"
    )


def test_task_list_with_no_tasks_says_how_to_add_one(account):
    assert "No tasks yet: register one with `manage.py blu task add`." in blu("task", "list")


def test_task_disable_stops_polling_and_keeps_the_calls_until_enabled(synced):
    from calls.ingest import polling

    out = blu("task", "disable", synced.blu_task_id)

    synced.refresh_from_db()
    assert not synced.is_polled and synced.calls.count() == 30
    assert f"Task {synced.blu_task_id} of collections is no longer polled; its 30 calls stay" in out
    assert synced.pk not in polling.due_task_ids()
    assert "is not polled already" in blu("task", "disable", synced.blu_task_id)

    assert "is polled again" in blu("task", "enable", synced.blu_task_id)
    synced.refresh_from_db()
    assert synced.is_polled and synced.pk in polling.due_task_ids()


@pytest.mark.parametrize("verb", ["disable", "enable", "remove"])
def test_task_verbs_ask_which_account_when_two_share_the_id(account, verb):
    other = add_account("recoveries")
    Task.objects.create(account=account, blu_task_id="555", is_polled=False)
    Task.objects.create(account=other, blu_task_id="555", is_polled=False)

    with pytest.raises(CommandError, match=r"registered for 2 accounts .*say which with --account"):
        blu("task", verb, "555")
    assert Task.objects.filter(is_polled=False).count() == 2

    blu("task", verb, "555", "--account", "recoveries", *(["--yes"] if verb == "remove" else []))
    assert Task.objects.filter(account=account, is_polled=False).exists()


@pytest.mark.parametrize("verb", ["disable", "enable", "remove"])
def test_task_verbs_name_an_unknown_task_or_account(account, verb):
    with pytest.raises(CommandError, match=r"No task 999 is registered\."):
        blu("task", verb, "999")
    with pytest.raises(CommandError, match=r"No task 999 is registered for collections\."):
        blu("task", verb, "999", "--account", "collections")
    with pytest.raises(CommandError, match="No Blu account named 'nobody'"):
        blu("task", verb, "999", "--account", "nobody")


def test_task_remove_of_a_task_with_calls_is_refused_as_the_admin_refuses(synced):
    error, _ = blu_failing("task", "remove", synced.blu_task_id, "--yes")

    assert f"Task {synced.blu_task_id} of collections has 30 calls" in str(error)
    assert f"`manage.py blu task disable {synced.blu_task_id} --account collections`" in str(error)
    assert Task.objects.filter(pk=synced.pk).exists() and CallRecord.objects.count() == 30


def test_task_remove_says_what_it_deletes_and_deletes_nothing_without_yes(account, sandbox):
    task = Task.objects.create(account=account, blu_task_id="424242", name="Typo")
    blu_failing("sync", "--task", "424242")  # Blu knows no such task: a failed run is recorded

    error, out = blu_failing("task", "remove", "424242")

    assert (
        "Removing task 424242 of collections (Typo) deletes it and its 1 sync run; "
        "it has no calls." in out
    )
    assert "Nothing deleted: run again with --yes to delete it." in str(error)
    assert Task.objects.filter(pk=task.pk).exists() and SyncRun.objects.count() == 1


def test_task_remove_with_yes_deletes_the_task_and_its_sync_runs(account, sandbox):
    Task.objects.create(account=account, blu_task_id="424242")
    blu_failing("sync", "--task", "424242")

    out = blu("task", "remove", "424242", "--yes")

    assert "Deleted task 424242 of collections." in out
    assert not Task.objects.exists() and not SyncRun.objects.exists()


# --- accounts: disable, enable --------------------------------------------------------------------


def test_account_disable_stops_polling_and_is_audited_as_the_admin_does(account):
    out = blu("account", "disable", "collections")

    account.refresh_from_db()
    assert not account.is_polled
    assert "Disabled account collections: it is not polled and refuses callbacks" in out
    (event,) = AuditEvent.objects.filter(action=AuditEvent.Action.ACCOUNT_DISABLED)
    assert (event.target, event.details, event.username) == ("collections", {}, "")
    assert "is disabled already" in blu("account", "disable", "collections")
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ACCOUNT_DISABLED).count() == 1

    assert "Enabled account collections" in blu("account", "enable", "collections")
    account.refresh_from_db()
    assert account.is_polled
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ACCOUNT_ENABLED).count() == 1


def test_account_disable_of_an_unknown_account_says_so(db):
    with pytest.raises(CommandError, match="No Blu account named 'nobody'"):
        blu("account", "disable", "nobody")


def test_task_remove_waits_for_a_sync_in_progress(account):
    from calls.ingest import lease

    task = Task.objects.create(account=account, blu_task_id="424242")
    assert lease.claim(task.pk, "a-worker")

    error, _ = blu_failing("task", "remove", "424242", "--yes")

    assert "Nothing deleted: a worker is syncing it; try again in" in str(error)
    assert Task.objects.filter(pk=task.pk).exists()
