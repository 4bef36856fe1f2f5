"""What every answer tells the browser (Content-Security-Policy and friends). Production's HTTPS
settings are checked in test_settings.py; the audit log of signing in and out in
tests/audit/test_sign_ins.py."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.helpers import PASSWORD, WRONG_PASSWORD, sign_in

pytestmark = pytest.mark.usefixtures("fast_hasher")

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

    response = sign_in(client, "manager", WRONG_PASSWORD)

    assert response.status_code == 429
    assert policy_of(response) == POLICY


def test_the_session_cookie_is_kept_from_scripts(client, manager):
    response = sign_in(client, "manager", PASSWORD)

    assert response.status_code == 302
    assert response.cookies["sessionid"]["httponly"] is True
    assert response.cookies["sessionid"]["samesite"] == "Lax"


def test_debug_settings_serve_plain_http_without_redirecting(client):
    assert client.get(reverse("login")).status_code == 200
