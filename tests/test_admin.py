"""Blu accounts in the admin: a write-only app key (kept out of the error emails too), an audit
trail of every change, a callback URL that can be replaced, and an audit log admins can read but
nobody can edit."""

import json
import re
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from calls.models import AuditEvent, BluAccount, Task
from tests.helpers import (
    APP_KEY,
    BLU_EXAMPLE,
    CANARY_KEY,
    CANARY_SECRET,
    add_account,
    audit_events,
    html_text,
    post_callback,
)

Action = AuditEvent.Action
NEW_KEY = "a-replacement-app-key-0d93"
CALLBACK = {"taskId": 66547748, "records": [{**BLU_EXAMPLE, "recordUrl": ""}]}
CHANGELIST = reverse("admin:calls_bluaccount_changelist")
AUDIT_LOG = reverse("admin:calls_auditevent_changelist")


def change_url(account) -> str:
    return reverse("admin:calls_bluaccount_change", args=[account.pk])


def form_data(account, **changes) -> dict:
    data = {
        "name": account.name,
        "base_url": account.base_url,
        "app_id": account.app_id,
        "app_key": "",
        "time_zone": account.time_zone,
        # What the browser sends for a field with a callable default, to tell a change apart.
        "initial-time_zone": account.time_zone,
        # The contact limits' inline, sent with no form: they stay as they are.
        "contact_limits-TOTAL_FORMS": "0",
        "contact_limits-INITIAL_FORMS": "0",
    }
    if account.is_polled:
        data["is_polled"] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def audited() -> list[str]:
    """The actions audited besides signing in and out (force_login signs in, too)."""
    return list(
        AuditEvent.objects.exclude(action__startswith="sign_").values_list("action", flat=True)
    )


def add_form(**changes) -> dict:
    """The add page's form as an admin fills it in; a change of None leaves the field out."""
    data = {
        "name": "collections",
        "base_url": "https://blu.example.test",
        "app_id": "10001",
        "app_key": APP_KEY,
        "time_zone": "Asia/Colombo",
        "is_polled": "on",
        "contact_limits-TOTAL_FORMS": "0",
        "contact_limits-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def refuse_account_writes() -> None:
    """The database refuses every write to the accounts table from now on (a full disk, a
    failover, a bad migration): the admin's save then fails with a 500, as on a failing machine."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION review_refuse() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'the disk is full'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER review_refuse BEFORE INSERT OR UPDATE ON calls_bluaccount "
                "FOR EACH ROW EXECUTE FUNCTION review_refuse()"
            )
        else:
            for event in ("INSERT", "UPDATE"):
                cursor.execute(
                    f"CREATE TRIGGER review_refuse_{event.lower()} BEFORE {event} ON "
                    "calls_bluaccount BEGIN SELECT RAISE(ABORT, 'the disk is full'); END"
                )


def error_emails_text() -> str:
    """Every email sent, its HTML alternative included, as text (not quoted-printable)."""
    parts = []
    for message in mail.outbox:
        parts += [message.subject, message.body]
        parts += [str(content) for content, _ in getattr(message, "alternatives", [])]
    return "\n".join(parts)


# --- adding and changing -------------------------------------------------------------------------


def test_adding_an_account_encrypts_the_key_and_never_shows_it(admin_client_):
    response = admin_client_.post(reverse("admin:calls_bluaccount_add"), add_form())
    assert response.status_code == 302
    account = BluAccount.objects.get()
    assert account.credentials().app_key == APP_KEY

    page = admin_client_.get(change_url(account))
    assert APP_KEY.encode() not in page.content
    assert account.app_key_encrypted.encode() not in page.content
    assert account.callback_token.encode() in page.content
    assert account.masked_app_key == "\u2022" * 8 + APP_KEY[-4:]
    assert account.masked_app_key in page.content.decode()

    (added,) = audit_events(Action.ACCOUNT_ADDED)
    assert added.target == "collections" and added.username == "boss"
    assert added.details == {
        "app_id": "10001",
        "base_url": "https://blu.example.test",
        "enabled": True,
    }


def test_saving_without_a_key_keeps_the_old_one(admin_client_, account):
    admin_client_.post(change_url(account), form_data(account, time_zone="UTC"))
    account.refresh_from_db()
    assert account.time_zone == "UTC" and account.credentials().app_key == APP_KEY


def test_a_new_account_needs_a_key(admin_client_):
    response = admin_client_.post(
        reverse("admin:calls_bluaccount_add"),
        add_form(app_id="1", app_key=None, time_zone="UTC", is_polled=None),
    )
    assert response.status_code == 200 and b"A new account needs its app key" in response.content
    assert not BluAccount.objects.exists()
    assert not audited()


def test_a_change_is_audited_by_field_name_and_a_replaced_key_separately(admin_client_, account):
    response = admin_client_.post(
        change_url(account), form_data(account, time_zone="UTC", app_key=NEW_KEY)
    )
    assert response.status_code == 302

    account.refresh_from_db()
    assert account.credentials().app_key == NEW_KEY
    (changed,) = audit_events(Action.ACCOUNT_CHANGED)
    assert changed.target == "collections"
    assert sorted(changed.details["fields"]) == ["app_key", "time_zone"]
    assert len(audit_events(Action.APP_KEY_REPLACED)) == 1
    stored = json.dumps(list(AuditEvent.objects.values("target", "details")))
    assert NEW_KEY not in stored and APP_KEY not in stored


def test_the_admins_history_names_the_key_field_but_never_holds_the_key(admin_client_, account):
    admin_client_.post(change_url(account), form_data(account, app_key=NEW_KEY))

    (entry,) = LogEntry.objects.all()
    assert "App key" in entry.get_change_message()
    assert NEW_KEY not in entry.change_message and NEW_KEY not in entry.object_repr
    history = admin_client_.get(reverse("admin:calls_bluaccount_history", args=[account.pk]))
    assert b"App key" in history.content and NEW_KEY.encode() not in history.content


def test_a_form_sent_back_with_an_error_does_not_echo_the_key(admin_client_, account):
    response = admin_client_.post(
        change_url(account), form_data(account, time_zone="Mars/Base", app_key=NEW_KEY)
    )
    assert response.status_code == 200 and b"not an IANA time zone" in response.content
    assert NEW_KEY.encode() not in response.content
    account.refresh_from_db()
    assert account.credentials().app_key == APP_KEY
    assert not audited()


def test_saving_an_unchanged_form_audits_nothing(admin_client_, account):
    assert admin_client_.post(change_url(account), form_data(account)).status_code == 302
    assert not audited()


@pytest.mark.parametrize("app_id", ["10001\u200b", "\uff11\uff10\uff10\uff10\uff11", "100 01"])
def test_an_app_id_that_cannot_travel_in_a_header_is_refused_when_typed(
    app_id, admin_client_, sandbox
):
    # Pasted from a chat or a web console with an invisible or full-width character: saved, every
    # request to Blu would fail before it left (a 500 on "Test connection").
    response = admin_client_.post(
        reverse("admin:calls_bluaccount_add"),
        add_form(base_url=sandbox.url, app_id=app_id, app_key=CANARY_KEY),
    )

    assert response.status_code == 200
    assert "letters, digits" in response.text
    assert not BluAccount.objects.exists()


@pytest.mark.parametrize("base_url", ["ftp://api.blu.example", "ftps://api.blu.example/v1"])
def test_a_base_url_blu_cannot_be_reached_at_is_refused_on_its_field(base_url, admin_client_):
    # Saved, every sync would fail four times over as if Blu were down.
    response = admin_client_.post(
        reverse("admin:calls_bluaccount_add"), add_form(base_url=base_url)
    )

    assert response.status_code == 200
    assert (
        "reached over https:// or http://"
        in response.context["adminform"].form.errors["base_url"][0]
    )
    assert not BluAccount.objects.exists()


@pytest.mark.parametrize("page", ["add", "change"])
def test_a_500_while_saving_an_account_emails_the_admins_without_the_app_key(
    page, admin_client_, settings, sandbox
):
    # Django emails ADMINS every 500 with the request's POST data; without a mail server the
    # email is written to the log instead.
    settings.ADMINS = [("ops", "ops@example.com")]
    admin_client_.raise_request_exception = False
    url = reverse("admin:calls_bluaccount_add")
    if page == "change":
        account = add_account(
            "collections", "the-first-app-key-0000", base_url=sandbox.url, app_id="10001"
        )
        url = change_url(account)
    refuse_account_writes()

    response = admin_client_.post(
        url,
        add_form(base_url=sandbox.url, app_key=CANARY_KEY, **{"initial-time_zone": "Asia/Colombo"}),
    )

    assert response.status_code == 500
    sent = error_emails_text()
    assert "the disk is full" in sent  # the error report did go out
    assert "app_key = '********************'" in sent
    assert CANARY_SECRET not in sent


# --- enabling and disabling ----------------------------------------------------------------------


def test_unticking_enabled_disables_the_account_and_audits_it(admin_client_, account):
    admin_client_.post(change_url(account), form_data(account, is_polled=None))

    account.refresh_from_db()
    assert not account.is_polled
    assert [e.target for e in audit_events(Action.ACCOUNT_DISABLED)] == ["collections"]
    assert audit_events(Action.ACCOUNT_CHANGED)[0].details["fields"] == ["is_polled"]


def test_deleting_an_account_without_tasks_is_audited_and_one_with_tasks_is_refused(
    admin_client_, account, make_task
):
    spare = add_account(
        "spare", "another-key-for-the-spare-one", base_url=account.base_url, app_id="10003"
    )
    make_task(calls=1)

    admin_client_.post(reverse("admin:calls_bluaccount_delete", args=[spare.pk]), {"post": "yes"})
    refused = admin_client_.post(
        reverse("admin:calls_bluaccount_delete", args=[account.pk]), {"post": "yes"}
    )

    assert list(BluAccount.objects.values_list("name", flat=True)) == ["collections"]
    assert b"Cannot delete" in refused.content
    assert [(e.target, e.details["app_id"]) for e in audit_events(Action.ACCOUNT_DELETED)] == [
        ("spare", "10003")
    ]


def test_the_disable_and_enable_actions_switch_accounts_and_audit_each(admin_client_, account):
    other = add_account("recoveries", base_url=account.base_url, app_id="10002")
    both = {"_selected_action": [account.pk, other.pk], "index": 0}

    response = admin_client_.post(CHANGELIST, {**both, "action": "disable_accounts"}, follow=True)

    assert "Disabled 2 accounts: collections, recoveries." in response.content.decode()
    assert not BluAccount.objects.filter(is_polled=True).exists()
    assert sorted(e.target for e in audit_events(Action.ACCOUNT_DISABLED)) == [
        "collections",
        "recoveries",
    ]

    admin_client_.post(
        CHANGELIST, {"_selected_action": [account.pk], "index": 0, "action": "enable_accounts"}
    )
    account.refresh_from_db()
    assert account.is_polled
    assert [e.target for e in audit_events(Action.ACCOUNT_ENABLED)] == ["collections"]


def test_the_admin_and_the_command_line_disable_an_account_alike(admin_client_, account):
    other = add_account("recoveries", base_url=account.base_url, app_id="10002")
    admin_client_.post(
        CHANGELIST, {"_selected_action": [account.pk], "index": 0, "action": "disable_accounts"}
    )
    call_command("blu", "account", "disable", "recoveries", stdout=StringIO())

    by_admin, by_command = audit_events(Action.ACCOUNT_DISABLED)
    assert (by_admin.target, by_admin.details, by_admin.username) == ("collections", {}, "boss")
    assert (by_command.target, by_command.details, by_command.username) == ("recoveries", {}, "")
    other.refresh_from_db()
    assert not other.is_polled


def test_in_the_admin_a_task_with_calls_cannot_be_deleted_even_by_a_superuser(
    admin_client_, client, django_user_model, synced
):
    # What `blu task remove` mirrors: a task's calls protect it. Admins may not delete tasks.
    delete_url = reverse("admin:calls_task_delete", args=[synced.pk])
    assert admin_client_.post(delete_url, {"post": "yes"}).status_code == 403
    client.force_login(django_user_model.objects.create_superuser("root", password=APP_KEY))

    refused = client.post(delete_url, {"post": "yes"})

    page = html_text(refused.content.decode())
    assert "Cannot delete task" in page and "permission to delete" in page and "call record" in page
    assert Task.objects.filter(pk=synced.pk).exists() and synced.calls.count() == 30


def test_a_disabled_account_refuses_callbacks(admin_client_, account):
    admin_client_.post(
        CHANGELIST, {"_selected_action": [account.pk], "index": 0, "action": "disable_accounts"}
    )
    assert post_callback(Client(), account, CALLBACK).status_code == 404


# --- the callback URL ----------------------------------------------------------------------------


def test_the_change_page_shows_the_callback_url_and_what_regenerating_it_means(
    admin_client_, account
):
    page = admin_client_.get(change_url(account)).content.decode()

    assert account.callback_url() in page
    assert "enter the new one in Blu's console" in page
    test_url = reverse("admin:calls_bluaccount_test_connection", args=[account.pk])
    assert re.search(
        rf'<form method="post" action="{test_url}">\s*<input type="hidden" '
        r'name="csrfmiddlewaretoken"',
        page,
    )
    assert reverse("admin:calls_bluaccount_regenerate_callback", args=[account.pk]) in page


def test_regenerating_asks_first_and_then_only_the_new_url_is_accepted(admin_client_, account):
    old_token = account.callback_token
    url = reverse("admin:calls_bluaccount_regenerate_callback", args=[account.pk])

    confirm = admin_client_.get(url)
    assert (
        confirm.status_code == 200 and b"answers 404 from the moment you confirm" in confirm.content
    )
    account.refresh_from_db()
    assert account.callback_token == old_token

    response = admin_client_.post(url, follow=True)
    assert "the callback URL is new" in response.content.decode()
    account.refresh_from_db()
    assert account.callback_token != old_token
    assert post_callback(Client(), account, CALLBACK, token=old_token).status_code == 404
    assert post_callback(Client(), account, CALLBACK).status_code == 200

    (event,) = audit_events(Action.TOKEN_REGENERATED)
    assert event.target == "collections" and event.details == {}
    assert old_token not in str(event.details) and account.callback_token not in str(event.details)
    assert "Regenerated the callback URL" in LogEntry.objects.get().get_change_message()


def test_the_regenerate_action_confirms_then_replaces_each_selected_url(admin_client_, account):
    old_token = account.callback_token
    selected = {"_selected_action": [account.pk], "action": "regenerate_callback_urls"}

    confirm = admin_client_.post(CHANGELIST, {**selected, "index": 0})
    assert b"Yes, regenerate" in confirm.content
    account.refresh_from_db()
    assert account.callback_token == old_token

    # The confirmation page posts back the selection without the list's "index".
    admin_client_.post(CHANGELIST, {**selected, "post": "yes"})
    account.refresh_from_db()
    assert account.callback_token != old_token
    assert len(audit_events(Action.TOKEN_REGENERATED)) == 1


# --- who may -------------------------------------------------------------------------------------


@pytest.mark.parametrize("person", ["staff_user", "manager"])
def test_staff_and_managers_cannot_use_any_of_it(client, request, account, person):
    client.force_login(request.getfixturevalue(person))
    old_token = account.callback_token
    doors = [
        ("get", change_url(account), {}),
        ("post", reverse("admin:calls_bluaccount_test_connection", args=[account.pk]), {}),
        ("post", reverse("admin:calls_bluaccount_regenerate_callback", args=[account.pk]), {}),
        (
            "post",
            CHANGELIST,
            {"_selected_action": [account.pk], "index": 0, "action": "disable_accounts"},
        ),
        ("get", AUDIT_LOG, {}),
    ]
    for method, url, data in doors:
        response = getattr(client, method)(url, data)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url

    account.refresh_from_db()
    assert account.callback_token == old_token and account.is_polled
    assert not audited()


# --- the audit log -------------------------------------------------------------------------------


def test_admins_read_the_audit_log_and_search_and_filter_it(admin_client_, account):
    admin_client_.post(change_url(account), form_data(account, app_key=NEW_KEY))

    page = admin_client_.get(AUDIT_LOG).content.decode()
    assert "replaced an app key" in page and "changed a Blu account" in page
    assert "fields: app_key" in page and "boss" in page

    def rows(**query) -> list[str]:
        listing = admin_client_.get(AUDIT_LOG, query)
        return [event.action for event in listing.context["cl"].result_list]

    assert rows(action__exact="app_key_replaced") == ["app_key_replaced"]
    assert set(rows(q="boss")) >= {"app_key_replaced", "account_changed"}
    assert rows(q="someone-else") == []
    assert "app_key_replaced" in rows(at__gte="2000-01-01 00:00:00+00:00")
    assert rows(at__lt="2000-01-01 00:00:00+00:00") == []


def test_the_admin_shows_dates_and_times_as_the_pages_do(admin_client_, account, synced):
    at = datetime(2024, 1, 2, 13, 45, 6, tzinfo=UTC)
    AuditEvent.objects.create(action=Action.EXPORT, username="boss", at=at)
    Task.objects.filter(pk=synced.pk).update(last_sync_at=at)
    shown = timezone.localtime(at).strftime("%Y-%m-%d %H:%M:%S")  # as on the task and call pages

    audit_log = html_text(admin_client_.get(AUDIT_LOG).content.decode())
    tasks = html_text(admin_client_.get(reverse("admin:calls_task_changelist")).content.decode())
    account_page = html_text(admin_client_.get(change_url(account)).content.decode())

    assert shown in audit_log and shown in tasks
    created = timezone.localtime(account.created_at).strftime("%Y-%m-%d %H:%M:%S")
    assert created in account_page
    for page in (audit_log, tasks, account_page):
        assert "Jan. 2" not in page and "p.m." not in page and "a.m." not in page


def test_nobody_edits_or_deletes_the_audit_log(admin_client_, account):
    admin_client_.post(change_url(account), form_data(account, time_zone="UTC"))
    (event,) = audit_events(Action.ACCOUNT_CHANGED)
    view_url = reverse("admin:calls_auditevent_change", args=[event.pk])

    assert admin_client_.get(view_url).status_code == 200
    assert admin_client_.get(reverse("admin:calls_auditevent_add")).status_code == 403
    assert admin_client_.post(view_url, {"target": "nothing"}).status_code == 403
    delete_url = reverse("admin:calls_auditevent_delete", args=[event.pk])
    assert admin_client_.post(delete_url, {"post": "yes"}).status_code == 403
    listing = admin_client_.get(AUDIT_LOG).content.decode()
    assert "delete_selected" not in listing
    event.refresh_from_db()
    assert event.target == "collections"


# --- pages that work under a strict Content-Security-Policy ---------------------------------------


def test_the_accounts_pages_need_no_inline_script_or_style(admin_client_, account):
    pages = [
        admin_client_.get(change_url(account)),
        admin_client_.get(reverse("admin:calls_bluaccount_test_connection", args=[account.pk])),
        admin_client_.get(reverse("admin:calls_bluaccount_regenerate_callback", args=[account.pk])),
    ]
    for response in pages:
        page = response.content.decode()
        assert response.status_code == 200
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), response.request["PATH_INFO"]
        assert not re.search(r"""\sstyle=|\son[a-z]+=""", page), response.request["PATH_INFO"]


# --- learned conclusion codes -------------------------------------------------------------------


def conclusion_delete_url(code: str) -> str:
    from calls.models import Conclusion

    return reverse("admin:calls_conclusion_delete", args=[Conclusion.objects.get(code=code).pk])


def test_admins_delete_a_learned_code_no_call_uses(admin_client_, account):
    from calls.models import Conclusion

    Conclusion.objects.create(code="ZZJUNK", label="Made up", classified=False)

    page = admin_client_.get(conclusion_delete_url("ZZJUNK"))
    response = admin_client_.post(conclusion_delete_url("ZZJUNK"), {"post": "yes"})

    assert page.status_code == 200 and response.status_code == 302
    assert not Conclusion.objects.filter(code="ZZJUNK").exists()


def test_admins_may_not_delete_a_code_a_call_has_nor_one_of_blus_own(
    admin_client_, client, account
):
    from calls.models import Conclusion

    post_callback(
        client, account, {"taskId": 1, "records": [{**BLU_EXAMPLE, "taskId": 1, "code": "ZZUSED"}]}
    )
    assert Conclusion.objects.filter(code="ZZUSED").exists()

    for code in ("ZZUSED", "D00"):
        response = admin_client_.post(conclusion_delete_url(code), {"post": "yes"})
        assert response.status_code == 403, code
        assert Conclusion.objects.filter(code=code).exists()
    changelist = admin_client_.get(reverse("admin:calls_conclusion_changelist"))
    assert b"delete_selected" not in changelist.content  # no bulk delete of codes in use


def test_an_admin_names_the_accounts_borrower_keys_and_its_calls_are_linked_again(
    admin_client_, account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        response = admin_client_.post(
            change_url(account),
            form_data(account, borrower_keys="customerNo, uniqueId"),
            follow=True,
        )
    account.refresh_from_db()
    assert account.borrower_key_list() == ["customerNo", "uniqueId"]
    assert b"will be linked to borrowers by the new keys" in response.content
    assert len(queued) == 1  # the relink job, queued once the change is committed


def test_borrower_keys_that_are_not_extvars_key_names_are_refused(admin_client_, account):
    response = admin_client_.post(
        change_url(account), form_data(account, borrower_keys="unique id")
    )
    assert response.status_code == 200 and b"is not an extVars key name" in response.content
    account.refresh_from_db()
    assert account.borrower_keys == ""
