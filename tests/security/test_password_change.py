"""Changing one's own password checks the old one like a sign-in: wrong old passwords count
toward the same per-user limit and lock, on the dashboard's form and the admin's, and each is in
the audit log as a failed sign-in (calls/security/password_change.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from calls.models import AuditEvent
from tests.helpers import PASSWORD, WRONG_PASSWORD, audit_events, sign_in

NEW_PASSWORD = "an-entirely-new-pass-phrase-41"
Action = AuditEvent.Action


@pytest.fixture(autouse=True)
def limits(settings, fast_hasher) -> None:
    settings.BLUDASH_LOGIN_FAILURES_PER_USER = 5
    settings.BLUDASH_LOGIN_FAILURES_PER_ADDRESS = 20
    settings.BLUDASH_LOGIN_COOLOFF = timedelta(minutes=15)


def change_password(client, old: str, form: str = "password_change", address="198.51.100.7"):
    return client.post(
        reverse(form),
        {"old_password": old, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        REMOTE_ADDR=address,
    )


def test_wrong_old_passwords_lock_the_user_like_failed_sign_ins(staff_client, staff_user):
    statuses = [change_password(staff_client, WRONG_PASSWORD).status_code for _ in range(5)]

    assert statuses == [200, 200, 200, 200, 429]
    refused = change_password(staff_client, PASSWORD)  # even the right one, while locked
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    staff_user.refresh_from_db()
    assert staff_user.check_password(PASSWORD)
    # The same lock as the sign-in form's, from any address.
    assert sign_in(staff_client, "agent", PASSWORD, "203.0.113.4").status_code == 429


def test_wrong_old_passwords_and_failed_sign_ins_share_one_count(staff_client, staff_user):
    elsewhere = Client()
    for n in range(3):
        sign_in(elsewhere, "agent", WRONG_PASSWORD, f"198.51.100.{n}")

    assert change_password(staff_client, WRONG_PASSWORD).status_code == 200
    assert change_password(staff_client, WRONG_PASSWORD).status_code == 429


def test_the_admins_own_password_change_form_is_guarded_too(admin_client_, admin_user):
    statuses = [
        change_password(admin_client_, WRONG_PASSWORD, form="admin:password_change").status_code
        for _ in range(5)
    ]

    assert statuses[-1] == 429
    assert change_password(admin_client_, PASSWORD, form="admin:password_change").status_code == 429
    admin_user.refresh_from_db()
    assert admin_user.check_password(PASSWORD)


def test_a_wrong_old_password_is_audited_as_a_failed_sign_in(staff_client, staff_user):
    for _ in range(5):
        change_password(staff_client, WRONG_PASSWORD, address="203.0.113.6")

    failed = audit_events(Action.SIGN_IN_FAILED)
    assert [(e.username, e.user, e.ip) for e in failed] == [
        ("agent", staff_user, "203.0.113.6")
    ] * 5
    assert {e.details.get("through") for e in failed} == {"password change"}
    [locked] = audit_events(Action.SIGN_IN_LOCKED)
    assert (locked.username, locked.details["locked"]) == ("agent", ["user"])
    for event in AuditEvent.objects.all():
        assert WRONG_PASSWORD not in repr([event.username, event.target, event.details])


def test_the_right_old_password_changes_it_and_starts_the_count_afresh(staff_client, staff_user):
    for _ in range(4):
        change_password(staff_client, WRONG_PASSWORD)

    signed_in = len(audit_events(Action.SIGN_IN))

    changed = change_password(staff_client, PASSWORD)

    assert changed.status_code == 302 and changed["Location"] == reverse("password_change_done")
    staff_user.refresh_from_db()
    assert staff_user.check_password(NEW_PASSWORD)
    assert len(audit_events(Action.SIGN_IN)) == signed_in  # a password change is no sign-in
    for _ in range(4):
        assert change_password(staff_client, WRONG_PASSWORD).status_code == 200


@pytest.mark.parametrize("form", ["password_change", "admin:password_change"])
def test_both_forms_show_and_keep_the_changing_session_signed_in(admin_client_, admin_user, form):
    assert admin_client_.get(reverse(form)).status_code == 200

    assert change_password(admin_client_, PASSWORD, form=form).status_code == 302

    admin_user.refresh_from_db()
    assert admin_user.check_password(NEW_PASSWORD)
    assert admin_client_.get(reverse("calls:overview")).status_code == 200
