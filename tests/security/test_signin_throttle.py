"""Failed sign-ins lock a username from everywhere and, with a higher limit, an address for every
username; both forms (the dashboard's and the admin's) are guarded, and the lock lifts by itself."""

from __future__ import annotations

import os
import re
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from tests.helpers import PASSWORD, WRONG_PASSWORD, sign_in, wait_for


@pytest.fixture(autouse=True)
def limits(settings, fast_hasher) -> None:  # hundreds of sign-ins: a fast hasher
    settings.BLUDASH_LOGIN_FAILURES_PER_USER = 5
    settings.BLUDASH_LOGIN_FAILURES_PER_ADDRESS = 20
    settings.BLUDASH_LOGIN_COOLOFF = timedelta(minutes=15)


def signed_in_as(client) -> str | None:
    response = client.get(reverse("calls:overview"))
    return response.context["user"].get_username() if response.status_code == 200 else None


def without_times(page: str) -> str:
    return re.sub(r"<time[^>]*>[^<]*</time>|\(in [^)]*\)", "", page)


def fail_five_times(client, username: str) -> list[int]:
    """Five wrong passwords for one username, each from another address."""
    return [
        sign_in(client, username, WRONG_PASSWORD, f"198.51.100.{n}").status_code
        for n in range(1, 6)
    ]


def test_five_wrong_passwords_lock_the_user_from_every_address_even_with_the_right_one(
    client, manager
):
    statuses = fail_five_times(client, "manager")

    assert statuses == [200, 200, 200, 200, 429]
    answer = sign_in(client, "manager", PASSWORD, "203.0.113.9")
    assert answer.status_code == 429
    assert "Too many failed sign-ins" in answer.text
    assert signed_in_as(client) is None


def test_a_locked_user_does_not_lock_out_others_at_the_same_address(client, manager, staff_user):
    fail_five_times(client, "manager")

    answer = sign_in(client, "agent", PASSWORD, "198.51.100.5")

    assert answer.status_code == 302
    assert signed_in_as(client) == "agent"


def test_many_usernames_tried_from_one_address_lock_that_address(client, manager):
    statuses = [
        sign_in(client, f"guess{n}", WRONG_PASSWORD, "192.0.2.7").status_code for n in range(1, 21)
    ]

    assert statuses[:19] == [200] * 19 and statuses[19] == 429
    assert sign_in(client, "manager", PASSWORD, "192.0.2.7").status_code == 429
    assert sign_in(client, "manager", PASSWORD, "192.0.2.8").status_code == 302


def test_the_limits_come_from_the_settings(client, settings, manager):
    settings.BLUDASH_LOGIN_FAILURES_PER_USER = 2

    assert sign_in(client, "manager", WRONG_PASSWORD, "198.51.100.1").status_code == 200
    assert sign_in(client, "manager", WRONG_PASSWORD, "198.51.100.2").status_code == 429


def test_the_lock_lifts_after_the_cool_off(client, settings, manager):
    settings.BLUDASH_LOGIN_COOLOFF = timedelta(seconds=1)
    fail_five_times(client, "manager")
    assert sign_in(client, "manager", PASSWORD, "198.51.100.1").status_code == 429

    # Tries during the lock are refused unread and do not extend it.
    statuses: list[int] = []

    def unlocked() -> bool:
        statuses.append(sign_in(client, "manager", PASSWORD, "198.51.100.1").status_code)
        return statuses[-1] != 429

    assert wait_for(unlocked, seconds=10, step=0.1), "still locked long after the cool-off"
    assert statuses[-1] == 302
    assert signed_in_as(client) == "manager"


def test_the_locked_out_page_says_when_to_try_again(client, manager):
    fail_five_times(client, "manager")

    answer = sign_in(client, "manager", PASSWORD, "198.51.100.1")

    assert 14 * 60 < int(answer["Retry-After"]) <= 15 * 60
    assert "Try again after" in answer.text
    assert "in 14\xa0minutes" in answer.text or "in 15\xa0minutes" in answer.text


def test_the_locked_out_page_reads_the_same_whether_or_not_the_user_exists(client, manager):
    fail_five_times(client, "manager")
    fail_five_times(client, "nobody-by-this-name")

    real = sign_in(client, "manager", WRONG_PASSWORD, "203.0.113.1")
    made_up = sign_in(client, "nobody-by-this-name", WRONG_PASSWORD, "203.0.113.1")

    assert real.status_code == made_up.status_code == 429
    assert without_times(real.text) == without_times(made_up.text)
    assert "manager" not in real.text


def test_the_admin_sign_in_form_is_guarded_too(client, admin_user):
    statuses = [
        sign_in(client, "boss", WRONG_PASSWORD, f"198.51.100.{n}", form="admin:login").status_code
        for n in range(1, 6)
    ]

    assert statuses[-1] == 429
    assert sign_in(client, "boss", PASSWORD, "203.0.113.1", form="admin:login").status_code == 429
    assert sign_in(client, "boss", PASSWORD, "203.0.113.1").status_code == 429


def test_a_successful_sign_in_starts_the_users_count_afresh(client, manager):
    for n in range(4):
        sign_in(client, "manager", WRONG_PASSWORD, f"198.51.100.{n}")
    assert sign_in(client, "manager", PASSWORD, "198.51.100.9").status_code == 302
    client.logout()

    statuses = [
        sign_in(client, "manager", WRONG_PASSWORD, f"198.51.100.{n}").status_code for n in range(4)
    ]

    assert statuses == [200] * 4


def test_sign_ins_that_succeed_count_nothing_against_their_address(client, manager, settings):
    # Each try is counted before its password is checked; a right one is taken off again.
    for _ in range(settings.BLUDASH_LOGIN_FAILURES_PER_ADDRESS + 5):
        assert sign_in(client, "manager", PASSWORD, "192.0.2.7").status_code == 302
        client.logout()

    assert sign_in(client, "someone", WRONG_PASSWORD, "192.0.2.7").status_code == 200
    assert sign_in(client, "manager", PASSWORD, "192.0.2.7").status_code == 302


def test_the_right_password_on_a_form_that_refuses_the_user_counts_nothing(
    client, staff_user, manager, settings
):
    # The admin's form checks the password, then refuses someone who is not staff: no sign-in
    # and no failure. Those tries counted and stayed, until the username and then the address
    # were refused everywhere, with no lock to end it (each refused try kept the count alive).
    limit = settings.BLUDASH_LOGIN_FAILURES_PER_ADDRESS
    for _ in range(limit + 1):
        refused = sign_in(client, "agent", PASSWORD, "192.0.2.9", form="admin:login")
        assert refused.status_code == 200 and "staff account" in refused.text

    assert sign_in(client, "agent", PASSWORD, "192.0.2.9").status_code == 302
    client.logout()
    assert sign_in(client, "manager", PASSWORD, "192.0.2.9").status_code == 302


def test_usernames_differing_only_in_case_share_a_count(client, manager):
    for name in ["manager", "Manager", "MANAGER", " manager", "mAnager"]:
        sign_in(client, name, WRONG_PASSWORD, "198.51.100.1")

    assert sign_in(client, "manager", PASSWORD, "203.0.113.1").status_code == 429


def test_an_admin_lifts_a_users_lock_with_axes_reset_username(client, manager):
    fail_five_times(client, "manager")

    call_command("axes_reset_username", "manager", stdout=StringIO())

    assert sign_in(client, "manager", PASSWORD, "198.51.100.1").status_code == 302


def test_an_admin_lifts_an_addresss_lock_with_axes_reset_ip(client, manager):
    for n in range(20):
        sign_in(client, f"guess{n}", WRONG_PASSWORD, "192.0.2.7")

    call_command("axes_reset_ip", "192.0.2.7", stdout=StringIO())

    assert sign_in(client, "manager", PASSWORD, "192.0.2.7").status_code == 302


def test_tests_still_sign_in_with_force_login(client, manager):
    fail_five_times(client, "manager")  # even a locked user: force_login skips authentication

    client.force_login(manager)

    assert signed_in_as(client) == "manager"


def test_tries_refused_by_a_lock_add_nothing_to_the_audit_log(client, manager):
    from calls.models import AuditEvent

    fail_five_times(client, "manager")
    logged = AuditEvent.objects.count()
    for n in range(30):
        assert sign_in(client, "manager", WRONG_PASSWORD, f"192.0.2.{n}").status_code == 429

    assert AuditEvent.objects.count() == logged
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    # The fifth failure locks: it is both a failure and the lockout.
    assert actions == ["sign_in_failed"] * 4 + ["sign_in_locked", "sign_in_failed"]


# --- parallel guesses ----------------------------------------------------------------------------


class GatedPasswordChecks:
    """A stand-in for the password check (tests only, through AUTHENTICATION_BACKENDS): it counts
    the checks that get this far and holds each until the test lets them all go, so that every
    guess is in flight at once, as with one guess per web worker."""

    condition = threading.Condition()
    checks = 0
    answered = 0
    release = threading.Event()

    @classmethod
    def reset(cls) -> None:
        cls.checks = cls.answered = 0
        cls.release.clear()

    def authenticate(self, request, username=None, password=None, **kwargs):
        with self.condition:
            type(self).checks += 1
            self.condition.notify_all()
        self.release.wait(timeout=30)
        return None  # every guess is wrong

    def get_user(self, user_id):
        return None


@pytest.mark.redis
@pytest.mark.skipif(
    not os.environ.get("BLUDASH_CACHE_URL"), reason="needs BLUDASH_CACHE_URL, a Redis of its own"
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("role_groups")  # a transactional test before it emptied the groups
def test_parallel_guesses_never_get_more_password_checks_than_the_limit(client, settings, manager):
    configured = settings.AUTHENTICATION_BACKENDS
    # The throttle's backend as configured, then the gate in place of the password backend.
    settings.AUTHENTICATION_BACKENDS = [configured[0], f"{__name__}.GatedPasswordChecks"]
    gate = GatedPasswordChecks
    gate.reset()
    guesses = 12

    def guess(n: int) -> None:
        try:
            sign_in(Client(), "manager", WRONG_PASSWORD, f"198.51.100.{n}")
        finally:
            connection.close()
            with gate.condition:
                gate.answered += 1
                gate.condition.notify_all()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(guesses)]
    for thread in threads:
        thread.start()
    # Every guess is either at a password check or already answered: then they all go on.
    with gate.condition:
        settled = gate.condition.wait_for(lambda: gate.checks + gate.answered >= guesses, 30)
    gate.release.set()
    for thread in threads:
        thread.join(timeout=30)

    assert settled and not any(thread.is_alive() for thread in threads)
    assert gate.checks == settings.BLUDASH_LOGIN_FAILURES_PER_USER
    settings.AUTHENTICATION_BACKENDS = configured
    assert sign_in(client, "manager", PASSWORD, "203.0.113.1").status_code == 429
