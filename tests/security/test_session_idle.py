"""Sessions end after BLUDASH_SESSION_IDLE_HOURS without a person using them (a page's own live
refresh is no use), and every other session of a user ends when their password changes, whoever
changes it (calls/security/session_idle.py)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from calls.security.session_idle import ACTIVE_AT
from tests.helpers import PASSWORD, sign_in

pytestmark = pytest.mark.usefixtures("fast_hasher")

NEW_PASSWORD = "an-entirely-new-pass-phrase-41"
LIVE = {"X-Requested-With": "fetch"}  # what static/js/bludash.js sends with a live refresh


def session_ends(client) -> timedelta:
    """How long from now until the client's session ends in the store."""
    row = Session.objects.get(session_key=client.session.session_key)
    return row.expire_date - timezone.now()


def as_if_idle_for(client, idle: timedelta) -> None:
    """The client's session as it would be had nobody used it for `idle`: its last activity that
    long ago, and its end as much nearer."""
    session = client.session
    session[ACTIVE_AT] = int(time.time() - idle.total_seconds())
    session.save()
    ends = timezone.now() + timedelta(hours=8) - idle
    Session.objects.filter(session_key=session.session_key).update(expire_date=ends)


def near(actual: timedelta, expected: timedelta) -> bool:
    return abs(actual - expected) < timedelta(minutes=2)


def test_a_session_lasts_the_idle_hours_not_two_weeks(client, staff_user, settings):
    assert settings.SESSION_COOKIE_AGE == 8 * 3600  # BLUDASH_SESSION_IDLE_HOURS' default

    assert sign_in(client, "agent", PASSWORD).status_code == 302

    assert near(session_ends(client), timedelta(hours=8))
    assert client.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == 8 * 3600


def test_a_person_using_a_page_moves_the_end_but_a_live_refresh_does_not(client, staff_user):
    sign_in(client, "agent", PASSWORD)
    as_if_idle_for(client, timedelta(hours=7))

    # An open overview refreshing itself for an hour: no one is there.
    assert client.get(reverse("calls:sync_health"), headers=LIVE).status_code == 200
    assert (
        client.get(reverse("calls:overview"), {"fragment": "numbers"}, headers=LIVE).status_code
        == 200
    )
    assert near(session_ends(client), timedelta(hours=1))

    # Someone opens a page.
    assert client.get(reverse("calls:call_list")).status_code == 200
    assert near(session_ends(client), timedelta(hours=8))


def test_a_session_idle_past_the_hours_is_signed_out_and_its_live_refresh_sent_to_sign_in(
    client, staff_user
):
    sign_in(client, "agent", PASSWORD)
    as_if_idle_for(client, timedelta(hours=8, minutes=1))

    refresh = client.get(reverse("calls:sync_health"), headers=LIVE)
    page = client.get(reverse("calls:overview"))

    assert refresh.status_code == 302 and refresh["Location"].startswith(reverse("login"))
    assert page.status_code == 302 and page["Location"].startswith(reverse("login"))


def test_changing_ones_password_signs_out_every_other_session(client, staff_user):
    here, elsewhere = client, Client()
    sign_in(here, "agent", PASSWORD)
    sign_in(elsewhere, "agent", PASSWORD, address="203.0.113.2")
    assert elsewhere.get(reverse("calls:overview")).status_code == 200

    changed = here.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert changed.status_code == 302
    assert here.get(reverse("calls:overview")).status_code == 200  # the session that changed it
    gone = elsewhere.get(reverse("calls:overview"))
    assert gone.status_code == 302 and gone["Location"].startswith(reverse("login"))


def test_a_password_an_admin_sets_in_the_admin_signs_the_user_out(
    client, staff_user, django_user_model
):
    # Users are managed by a superuser (the Admins group manages Blu's side, not people).
    admin_client = client
    admin_client.force_login(django_user_model.objects.create_superuser("root", None, PASSWORD))
    theirs = Client()
    sign_in(theirs, "agent", PASSWORD)
    assert theirs.get(reverse("calls:overview")).status_code == 200

    set_by_admin = admin_client.post(
        reverse("admin:auth_user_password_change", args=[staff_user.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert set_by_admin.status_code == 302
    staff_user.refresh_from_db()
    assert staff_user.check_password(NEW_PASSWORD)
    gone = theirs.get(reverse("calls:overview"))
    assert gone.status_code == 302 and gone["Location"].startswith(reverse("login"))
    assert admin_client.get(reverse("admin:index")).status_code == 200  # the admin stays in
