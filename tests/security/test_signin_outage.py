"""When the cache that counts sign-in tries does not answer, signing in is refused with a page
that says why (503), and the outage is logged once, not once per try
(calls/security/signin_outage.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from django.urls import reverse

from calls.security import signin_throttle
from tests.helpers import PASSWORD, WRONG_PASSWORD, sign_in

pytestmark = pytest.mark.usefixtures("fast_hasher")

# A Redis where nothing listens: every cache call fails at once with "connection refused".
NOBODY_LISTENS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
    }
}


@pytest.fixture(autouse=True)
def cache_back_afterwards(settings) -> Iterator[None]:
    """Each process logs an outage once until the cache answers again: after each test it does,
    so that the next test's outage is a new one."""
    answering = settings.CACHES
    yield
    settings.CACHES = answering
    signin_throttle.locked_until("anyone", None)


def outage_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("form", ["login", "admin:login"])
def test_signing_in_while_the_cache_is_down_says_why(client, settings, manager, form):
    settings.CACHES = NOBODY_LISTENS

    answer = sign_in(client, "manager", PASSWORD, form=form)

    assert answer.status_code == 503
    assert "Signing in is unavailable" in answer.text
    assert "the cache that counts sign-in tries does not answer" in answer.text
    assert answer["Retry-After"]
    assert "_auth_user_id" not in client.session


def test_an_outage_is_logged_once_and_again_only_after_the_cache_answered(
    client, settings, manager, caplog
):
    answering = settings.CACHES
    caplog.set_level(logging.INFO)

    settings.CACHES = NOBODY_LISTENS
    first = sign_in(client, "manager", PASSWORD)
    second = sign_in(client, "manager", WRONG_PASSWORD)
    assert first.status_code == second.status_code == 503
    [line] = outage_lines(caplog)
    assert "sign-in is unavailable" in line and "does not answer" in line
    assert "127.0.0.1:1" not in line  # a cache URL may hold a password: no address is logged

    settings.CACHES = answering
    assert sign_in(client, "manager", PASSWORD).status_code == 302
    assert any("answers again" in r.getMessage() for r in caplog.records)
    client.logout()

    caplog.clear()
    settings.CACHES = NOBODY_LISTENS
    assert sign_in(client, "manager", PASSWORD).status_code == 503
    assert sign_in(client, "manager", PASSWORD).status_code == 503
    assert len(outage_lines(caplog)) == 1


def test_a_password_change_while_the_cache_is_down_says_why_and_changes_nothing(
    staff_client, staff_user, settings
):
    settings.CACHES = NOBODY_LISTENS
    new = "an-entirely-new-pass-phrase-41"

    answer = staff_client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )

    assert answer.status_code == 503 and "Signing in is unavailable" in answer.text
    staff_user.refresh_from_db()
    assert staff_user.check_password(PASSWORD)
