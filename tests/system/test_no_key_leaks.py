"""An app key, once typed into the admin, is never seen again: not in a log line at any level, not
in a page, not in an email, not in any table but its own encrypted column. Nor are the Fernet keys.

Everything that handles an account goes wrong once here (a sync Blu refuses, a failing connection
test, a malformed callback) with every logger at DEBUG and SQL logged, and then every trace of the
run is searched for the secrets.
"""

import logging
import secrets
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from calls.blu.client import BluError
from calls.ingest import sync
from calls.models import AuditEvent, BluAccount, Task
from tests.helpers import APP_ID, alert_jobs_run_here, post_callback

# Random, so that finding one anywhere can only mean it leaked; searched for by the random part,
# so a key cut short is found too. The sandbox holds another key for APP_ID (conftest's APP_KEY):
# every request signed with these is refused, "sign error".
FIRST_SECRET, SECRET = secrets.token_hex(8), secrets.token_hex(8)
FIRST_KEY = f"first-canary-app-key-{FIRST_SECRET}-end"
APP_KEY = f"canary-app-key-{SECRET}-end"
TASK_ID = "66547748"


@pytest.fixture
def everything_logged(db, caplog, monkeypatch):
    """Every logger at DEBUG and reaching caplog, and every SQL statement logged with its values
    as DEBUG mode would."""
    caplog.set_level(logging.DEBUG)
    names = ["django", "django.request", "django.server", "django.db.backends", "urllib3"]
    names += ["requests", "calls", "celery"]
    for name in sorted(set(names) | set(logging.root.manager.loggerDict)):
        logger = logging.getLogger(name)
        caplog.set_level(logging.DEBUG, logger=name)
        monkeypatch.setattr(logger, "propagate", True)
        monkeypatch.setattr(logger, "disabled", False)
    # Django logs SQL with its values (django.db.backends) while queries are being captured.
    with CaptureQueriesContext(connection):
        yield caplog


def database_dump() -> dict[str, str]:
    """Every row of every table (sessions decoded), as text, by where it is."""
    rows = {}
    for model in apps.get_models(include_auto_created=True):
        for row in model._default_manager.values():
            where = f"table {model._meta.db_table}, row {row.get('id', row)}"
            rows[where] = repr(row)
    for session in Session.objects.all():
        rows[f"session {session.pk} (decoded)"] = repr(session.get_decoded())
    return rows


def test_no_secret_reaches_a_log_a_page_an_email_or_another_table(
    everything_logged, admin_client_, sandbox, settings
):
    settings.BLUDASH_ACCOUNT_FAILURE_ALERT = 1  # so the failure email, too, is written and read
    settings.ADMINS = [("Ops", "ops@example.com")]
    seen: dict[str, str] = {}

    def visit(method: str, url: str, data=None, **extra) -> str:
        response = getattr(admin_client_, method)(url, data, follow=True, **extra)
        page = response.content.decode()
        seen[f"the response to {method.upper()} {url}"] = page + repr(response.headers)
        return page

    # An admin adds the account, then replaces its key (each save is in the admin's history).
    visit(
        "post",
        reverse("admin:calls_bluaccount_add"),
        {
            "name": "collections",
            "base_url": sandbox.url,
            "app_id": APP_ID,
            "app_key": FIRST_KEY,
            "time_zone": "Asia/Colombo",
            "initial-time_zone": "Asia/Colombo",
            "contact_limits-TOTAL_FORMS": "0",  # the limits' inline, left at its defaults
            "contact_limits-INITIAL_FORMS": "0",
            "is_polled": "on",
        },
    )
    account = BluAccount.objects.get()
    change = reverse("admin:calls_bluaccount_change", args=[account.pk])
    form = {
        "name": "collections",
        "base_url": sandbox.url,
        "app_id": APP_ID,
        "time_zone": "Asia/Colombo",
        "initial-time_zone": "Asia/Colombo",
        "contact_limits-TOTAL_FORMS": "0",
        "contact_limits-INITIAL_FORMS": "0",
        "is_polled": "on",
    }
    visit("post", change, {**form, "app_key": APP_KEY})
    visit("post", change, {**form, "app_key": APP_KEY, "time_zone": "Mars/Base"})  # refused
    account.refresh_from_db()
    assert account.credentials().app_key == APP_KEY

    # (a) A sync Blu refuses, from the command line and as a plain function.
    sandbox.add_task(app_id=APP_ID, task_id=TASK_ID, calls=5)
    task = Task.objects.create(account=account, blu_task_id=TASK_ID)
    out = StringIO()
    with alert_jobs_run_here(), pytest.raises(CommandError):
        call_command("blu", "sync", stdout=out, stderr=out)
    seen["the output of `manage.py blu sync`"] = out.getvalue()
    with alert_jobs_run_here(), pytest.raises(BluError) as refused:
        sync.sync_task(task)
    seen["the sync's exception"] = f"{refused.value!s} {refused.value!r} {refused.value.args!r}"
    assert "code 4005: sign error" in str(refused.value)

    # (b) A connection test Blu refuses, through the admin.
    tested = visit("post", reverse("admin:calls_bluaccount_test_connection", args=[account.pk]))
    assert "Blu refused: code 4005: sign error" in tested

    # (c) A malformed callback, then the pages an admin reads afterwards.
    callback = post_callback(admin_client_, account, b'{"taskId": 66547748, "records": [')
    assert callback.status_code == 400
    seen["the callback's answer"] = callback.content.decode()
    pages = [
        reverse("admin:calls_bluaccount_changelist"),
        change,
        reverse("admin:calls_bluaccount_history", args=[account.pk]),
        reverse("admin:calls_bluaccount_test_connection", args=[account.pk]),
        reverse("admin:calls_bluaccount_regenerate_callback", args=[account.pk]),
        reverse("admin:calls_auditevent_changelist"),
        reverse("admin:calls_syncrun_changelist"),
        reverse("calls:overview"),
        reverse("calls:sync_health"),
        reverse("calls:task_detail", args=[task.pk]),
    ]
    pages += [reverse("admin:calls_auditevent_change", args=[pk]) for pk in audit_event_ids()]
    for url in pages:
        visit("get", url)

    assert mail.outbox, "the failure email was to be searched too"
    for n, message in enumerate(mail.outbox):
        seen[f"email {n} ({message.subject})"] = message.message().as_string()
    seen["the log"] = everything_logged.text
    seen.update(database_dump())

    # The run did what it was meant to: the failures were logged and the key was stored.
    logged = {record.name for record in everything_logged.records}
    assert {"urllib3.connectionpool", "django.db.backends", "django.request"} <= logged
    assert "sign error" in everything_logged.text
    assert account.app_key_encrypted in seen[f"table calls_bluaccount, row {account.pk}"]

    hidden = {"the app key": SECRET, "the first app key": FIRST_SECRET}
    hidden |= {f"Fernet key {n}": key for n, key in enumerate(settings.BLUDASH_FERNET_KEYS, 1)}
    leaks = [
        f"{secret} is in {where}"
        for secret, value in hidden.items()
        for where, text in seen.items()
        if value in text
    ]
    assert not leaks, "; ".join(leaks)
    # The ciphertext is the key's own column's business only.
    shown = [where for where, text in seen.items() if not where.startswith(("table", "the log"))]
    assert not [w for w in shown if account.app_key_encrypted in seen[w]]


def audit_event_ids() -> list[int]:
    return list(AuditEvent.objects.values_list("pk", flat=True))
