"""The audit log of signing in and out: who, from where, the name as typed and never the
password, and a lockout once (calls/audit/sign_ins.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from calls.models import AuditEvent
from tests.helpers import PASSWORD, WRONG_PASSWORD, audit_events, sign_in

pytestmark = pytest.mark.usefixtures("fast_hasher")

Action = AuditEvent.Action


def test_signing_in_is_recorded_with_who_and_from_where(client, manager):
    sign_in(client, "manager", PASSWORD, address="203.0.113.5")

    [event] = audit_events(Action.SIGN_IN)
    assert (event.user, event.username, event.ip) == (manager, "manager", "203.0.113.5")


def test_a_failed_sign_in_is_recorded_with_the_name_as_typed_and_never_the_password(
    client, manager
):
    sign_in(client, "Manager ", WRONG_PASSWORD, address="203.0.113.6")
    sign_in(client, "no-such-person", WRONG_PASSWORD, address="203.0.113.6")

    failed = audit_events(Action.SIGN_IN_FAILED)
    assert [(e.username, e.ip, e.user) for e in failed] == [
        ("Manager", "203.0.113.6", None),  # the form strips spaces before anyone sees the name
        ("no-such-person", "203.0.113.6", None),
    ]
    for event in AuditEvent.objects.all():
        recorded = repr([event.username, event.target, event.details, str(event)])
        assert WRONG_PASSWORD not in recorded and "*****" not in recorded
    assert not audit_events(Action.SIGN_IN)


def test_a_lockout_is_recorded_once_with_what_was_locked_and_until_when(client, settings, manager):
    settings.BLUDASH_LOGIN_FAILURES_PER_USER = 3
    settings.BLUDASH_LOGIN_COOLOFF = timedelta(minutes=15)

    for _ in range(5):  # three to lock, two refused while locked
        sign_in(client, "manager", WRONG_PASSWORD, address="203.0.113.7")

    [locked] = audit_events(Action.SIGN_IN_LOCKED)
    assert (locked.username, locked.ip) == ("manager", "203.0.113.7")
    assert locked.details["locked"] == ["user"]
    assert locked.details["until"] > locked.at.isoformat()
    # The two refused by the lock are not failures of their own (or a script could fill the log).
    assert len(audit_events(Action.SIGN_IN_FAILED)) == 3


def test_an_address_lockout_says_so(client, settings, manager):
    settings.BLUDASH_LOGIN_FAILURES_PER_ADDRESS = 3

    for n in range(3):
        sign_in(client, f"guess{n}", WRONG_PASSWORD, address="203.0.113.8")

    [locked] = audit_events(Action.SIGN_IN_LOCKED)
    assert (locked.username, locked.details["locked"]) == ("guess2", ["address"])


def test_signing_out_is_recorded(client, manager):
    sign_in(client, "manager", PASSWORD, address="203.0.113.9")

    client.post(reverse("logout"), REMOTE_ADDR="203.0.113.9")

    [event] = audit_events(Action.SIGN_OUT)
    assert (event.user, event.username, event.ip) == (manager, "manager", "203.0.113.9")


def test_signing_out_when_not_signed_in_records_nothing(client, db):
    client.post(reverse("logout"))

    assert not AuditEvent.objects.exists()
