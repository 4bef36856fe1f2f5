"""Behind the TLS proxy, the client is the address the proxy names, and only when the request
came from a listed proxy: sign-in limits and the audit log count the person, not the proxy
(calls/security/client_address.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.urls import reverse

from calls.models import AuditEvent
from calls.security.client_address import client_ip
from tests.helpers import PASSWORD, WRONG_PASSWORD, audit_events

PROXY = "10.0.0.2"


@pytest.fixture(autouse=True)
def behind_proxy(settings, fast_hasher) -> None:  # before the people: a fast hasher
    settings.BLUDASH_TRUSTED_PROXIES = [PROXY, "fd00::/8"]
    settings.BLUDASH_CLIENT_IP_HEADER = "X-Forwarded-For"
    settings.BLUDASH_LOGIN_FAILURES_PER_USER = 5
    settings.BLUDASH_LOGIN_FAILURES_PER_ADDRESS = 20
    settings.BLUDASH_LOGIN_COOLOFF = timedelta(minutes=15)


def through_proxy(client, username: str, password: str, forwarded_for: str, proxy: str = PROXY):
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=proxy,
        headers={"X-Forwarded-For": forwarded_for},
    )


def request_from(remote_addr: str, forwarded_for: str | None = None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote_addr, headers=headers)


@pytest.mark.django_db
def test_twenty_failures_from_one_person_behind_the_proxy_lock_only_that_person(client, manager):
    statuses = [
        through_proxy(client, f"guess{n}", WRONG_PASSWORD, "192.0.2.7").status_code
        for n in range(1, 21)
    ]

    assert statuses[19] == 429
    # Everyone else comes through the same proxy and is not locked out with them.
    assert through_proxy(client, "manager", PASSWORD, "192.0.2.8").status_code == 302


@pytest.mark.django_db
def test_the_audit_log_records_the_person_not_the_proxy(client, manager):
    through_proxy(client, "manager", WRONG_PASSWORD, "203.0.113.6")
    through_proxy(client, "manager", PASSWORD, "203.0.113.5")

    [failed] = audit_events(AuditEvent.Action.SIGN_IN_FAILED)
    [signed_in] = audit_events(AuditEvent.Action.SIGN_IN)
    assert (failed.ip, signed_in.ip) == ("203.0.113.6", "203.0.113.5")


@pytest.mark.django_db
def test_a_header_written_by_someone_who_is_not_a_listed_proxy_is_ignored(client, manager):
    # Each try claims another address; they all come from 192.0.2.7, which is what counts.
    statuses = [
        through_proxy(client, f"guess{n}", WRONG_PASSWORD, f"198.51.100.{n}", proxy="192.0.2.7")
        for n in range(1, 21)
    ]

    assert statuses[19].status_code == 429
    assert {event.ip for event in audit_events(AuditEvent.Action.SIGN_IN_FAILED)} == {"192.0.2.7"}


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.BLUDASH_TRUSTED_PROXIES = []

    assert client_ip(request_from(PROXY, "192.0.2.7")) == PROXY


@pytest.mark.parametrize(
    ("remote_addr", "forwarded_for", "expected"),
    [
        # What the client wrote itself comes first; the listed proxy appends what it saw.
        (PROXY, "198.51.100.1, 192.0.2.7", "192.0.2.7"),
        # Two listed proxies in a row: the first address neither added is the client.
        (PROXY, "192.0.2.7, fd00::5", "192.0.2.7"),
        (PROXY, "192.0.2.7,10.0.0.2", "192.0.2.7"),
        # The proxy sent no header, or nothing readable: the proxy is all that is known.
        (PROXY, None, PROXY),
        (PROXY, "", PROXY),
        (PROXY, "192.0.2.7, not-an-address", PROXY),
        # Only listed proxies in the header: the leftmost is the closest thing to a client.
        (PROXY, "fd00::9, 10.0.0.2", "fd00::9"),
        ("fd00::1", "2001:db8::7", "2001:db8::7"),
        ("192.0.2.99", "192.0.2.7", "192.0.2.99"),
    ],
)
def test_the_client_is_the_last_address_no_listed_proxy_added(remote_addr, forwarded_for, expected):
    assert client_ip(request_from(remote_addr, forwarded_for)) == expected


def test_the_header_can_be_one_a_proxy_sets_to_the_client_alone(settings):
    settings.BLUDASH_TRUSTED_PROXIES = [PROXY]
    settings.BLUDASH_CLIENT_IP_HEADER = "X-Real-IP"
    request = RequestFactory().get(
        "/", REMOTE_ADDR=PROXY, headers={"X-Real-IP": "192.0.2.7", "X-Forwarded-For": "1.2.3.4"}
    )

    assert client_ip(request) == "192.0.2.7"
