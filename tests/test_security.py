"""What every answer tells the browser (Content-Security-Policy and friends), and the audit log of
signing in and out. Production's HTTPS settings are checked in test_settings.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from calls.models import AuditEvent

from .conftest import PASSWORD

Action = AuditEvent.Action
WRONG = "a-wrong-guess-9c1f"

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "media-src": "'self'",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
}


def policy_of(response) -> dict[str, str]:
    directives = (part.strip() for part in response["Content-Security-Policy"].split(";"))
    return dict(d.split(" ", 1) for d in directives if d)


@pytest.fixture(autouse=True)
def fast_hasher(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def sign_in(client, username: str, password: str, address: str = "198.51.100.7"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


# --- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/accounts/login/", "/", "/admin/login/", "/no-such-page/"])
def test_every_answer_carries_the_content_security_policy(client, db, url):
    assert policy_of(client.get(url)) == POLICY


def test_signed_in_pages_carry_the_policy_and_refuse_framing(staff_client):
    response = staff_client.get(reverse("calls:overview"))

    assert response.status_code == 200
    assert policy_of(response) == POLICY
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_locked_out_page_carries_the_policy_too(client, settings, manager):
    settings.BLUDASH_LOGIN_FAILURES_PER_USER = 1

    response = sign_in(client, "manager", WRONG)

    assert response.status_code == 429
    assert policy_of(response) == POLICY


def test_the_session_cookie_is_kept_from_scripts(client, manager):
    response = sign_in(client, "manager", PASSWORD)

    assert response.status_code == 302
    assert response.cookies["sessionid"]["httponly"] is True
    assert response.cookies["sessionid"]["samesite"] == "Lax"


def test_debug_settings_serve_plain_http_without_redirecting(client):
    assert client.get(reverse("login")).status_code == 200


# --- the audit log of signing in -----------------------------------------------------------------


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_signing_in_is_recorded_with_who_and_from_where(client, manager):
    sign_in(client, "manager", PASSWORD, address="203.0.113.5")

    [event] = events(Action.SIGN_IN)
    assert (event.user, event.username, event.ip) == (manager, "manager", "203.0.113.5")


def test_a_failed_sign_in_is_recorded_with_the_name_as_typed_and_never_the_password(
    client, manager
):
    sign_in(client, "Manager ", WRONG, address="203.0.113.6")
    sign_in(client, "no-such-person", WRONG, address="203.0.113.6")

    failed = events(Action.SIGN_IN_FAILED)
    assert [(e.username, e.ip, e.user) for e in failed] == [
        ("Manager", "203.0.113.6", None),  # the form strips spaces before anyone sees the name
        ("no-such-person", "203.0.113.6", None),
    ]
    for event in AuditEvent.objects.all():
        recorded = repr([event.username, event.target, event.details, str(event)])
        assert WRONG not in recorded and "*****" not in recorded
    assert not events(Action.SIGN_IN)


def test_a_lockout_is_recorded_once_with_what_was_locked_and_until_when(client, settings, manager):
    settings.BLUDASH_LOGIN_FAILURES_PER_USER = 3
    settings.BLUDASH_LOGIN_COOLOFF = timedelta(minutes=15)

    for _ in range(5):  # three to lock, two refused while locked
        sign_in(client, "manager", WRONG, address="203.0.113.7")

    [locked] = events(Action.SIGN_IN_LOCKED)
    assert (locked.username, locked.ip) == ("manager", "203.0.113.7")
    assert locked.details["locked"] == ["user"]
    assert locked.details["until"] > locked.at.isoformat()
    # The two refused by the lock are not failures of their own (or a script could fill the log).
    assert len(events(Action.SIGN_IN_FAILED)) == 3


def test_an_address_lockout_says_so(client, settings, manager):
    settings.BLUDASH_LOGIN_FAILURES_PER_ADDRESS = 3

    for n in range(3):
        sign_in(client, f"guess{n}", WRONG, address="203.0.113.8")

    [locked] = events(Action.SIGN_IN_LOCKED)
    assert (locked.username, locked.details["locked"]) == ("guess2", ["address"])


def test_signing_out_is_recorded(client, manager):
    sign_in(client, "manager", PASSWORD, address="203.0.113.9")

    client.post(reverse("logout"), REMOTE_ADDR="203.0.113.9")

    [event] = events(Action.SIGN_OUT)
    assert (event.user, event.username, event.ip) == (manager, "manager", "203.0.113.9")


def test_signing_out_when_not_signed_in_records_nothing(client, db):
    client.post(reverse("logout"))

    assert not AuditEvent.objects.exists()
