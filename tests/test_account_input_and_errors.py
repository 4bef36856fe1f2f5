"""Defects found reviewing issue 4 (admin, credentials, security, alerts, sync failures), each
pinned by what a careless admin, a hostile user or a failing machine would have seen."""

from __future__ import annotations

import secrets
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from calls.models import AuditEvent, BluAccount

SECRET = secrets.token_hex(8)
APP_KEY = f"review-canary-key-{SECRET}-end"


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
        account = BluAccount(name="collections", base_url=sandbox.url, app_id="10001")
        account.set_app_key("the-first-app-key-0000")
        account.save()
        url = reverse("admin:calls_bluaccount_change", args=[account.pk])
    refuse_account_writes()

    response = admin_client_.post(
        url,
        {
            "name": "collections",
            "base_url": sandbox.url,
            "app_id": "10001",
            "app_key": APP_KEY,
            "time_zone": "Asia/Colombo",
            "initial-time_zone": "Asia/Colombo",
            "is_polled": "on",
        },
    )

    assert response.status_code == 500
    sent = error_emails_text()
    assert "the disk is full" in sent  # the error report did go out
    assert "app_key = '********************'" in sent
    assert SECRET not in sent


def test_an_account_added_from_the_command_line_is_in_the_audit_log(db, monkeypatch, sandbox):
    monkeypatch.setenv("BLU_APP_KEY", APP_KEY)
    call_command(
        "blu",
        "account",
        "add",
        "recoveries",
        "--base-url",
        sandbox.url,
        "--app-id",
        "10002",
        stdout=StringIO(),
    )

    (event,) = AuditEvent.objects.filter(action=AuditEvent.Action.ACCOUNT_ADDED)
    assert event.target == "recoveries"
    assert event.details["app_id"] == "10002"
    assert SECRET not in repr(event.details)


@pytest.mark.parametrize("app_id", ["10001\u200b", "\uff11\uff10\uff10\uff10\uff11", "100 01"])
def test_an_app_id_that_cannot_travel_in_a_header_is_refused_when_typed(
    app_id, admin_client_, sandbox
):
    # Pasted from a chat or a web console with an invisible or full-width character: saved, every
    # request to Blu would fail before it left (a 500 on "Test connection").
    response = admin_client_.post(
        reverse("admin:calls_bluaccount_add"),
        {
            "name": "collections",
            "base_url": sandbox.url,
            "app_id": app_id,
            "app_key": APP_KEY,
            "time_zone": "Asia/Colombo",
            "is_polled": "on",
        },
    )

    assert response.status_code == 200
    assert "letters, digits" in response.text
    assert not BluAccount.objects.exists()


def test_the_command_line_refuses_such_an_app_id_too(db, monkeypatch, sandbox):
    monkeypatch.setenv("BLU_APP_KEY", APP_KEY)
    with pytest.raises(CommandError, match="letters, digits"):
        call_command(
            "blu",
            "account",
            "add",
            "recoveries",
            "--base-url",
            sandbox.url,
            "--app-id",
            "10001\u200b",
            stdout=StringIO(),
        )
    assert not BluAccount.objects.exists()


def test_nobody_can_have_a_password_reset_link_sent_to_the_log(client, admin_user, settings):
    # Without a mail server emails are written to the log, where a reset link is a sign-in for
    # whoever reads it; the sign-in pages say an administrator sets a new password instead.
    admin_user.email = "boss@example.com"
    admin_user.save()

    response = client.post("/accounts/password_reset/", {"email": "boss@example.com"})

    assert response.status_code == 404
    assert mail.outbox == []
    assert client.get(reverse("login")).status_code == 200
