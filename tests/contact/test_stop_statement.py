"""The pre-dial check's kept statement gives the stop list's own answer for every reason, and
follows a contact limit saved, a setting changed and a reason added."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from calls.contact import stop_list, stop_statement
from calls.models import Borrower, CallRecord, ContactLimits
from tests.contact.test_stop_list import _ago, _ahead


def both(key: str) -> tuple:
    """(the kept statement's answer, the stop list's) as (reason slug, borrower key)."""
    pks = list(Borrower.objects.filter(key=key).values_list("pk", flat=True))
    now = timezone.now()
    answers = []
    for found in (stop_statement.first_reason(pks, now), stop_list.first_reason(pks, now)):
        answers.append(
            None if found is None else (found[0].slug, Borrower.objects.get(pk=found[1]).key)
        )
    return tuple(answers)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's times are bound as text, so no statement is kept there: the ORM answers",
)
def test_the_default_reasons_get_a_kept_statement(db):
    assert stop_statement.statement(1) is not None
    assert stop_statement.statement(2) is not None


def test_every_reason_is_answered_as_the_stop_list_answers(call, pay, settings):
    settings.BLUDASH_STOP_WRONG_PERSON_TIMES = 1
    settings.BLUDASH_STOP_DEAD_LINE_TIMES = 1
    call("c1", code="AP", borrower="PAID", at=_ago(days=1))
    call("c2", code="NOST", borrower="REPAID", at=_ago(days=2))
    pay(f"REPAID,100,{_ago(days=1)},,ref-1")
    call("c3", code="CPL", borrower="ANGRY", at=_ago(hours=2))
    call(
        "c4",
        code="PTP",
        borrower="PROMISED",
        at=_ago(hours=1),
        slot=[_ago(hours=1), _ahead(days=1)],
    )
    call("c5", code="NotOneself", borrower="WRONG", at=_ago(days=1))
    call("c6", code="D03", borrower="DEAD", at=_ago(days=1))
    call("c7", code="NOST", borrower="FREE", at=_ago(days=1))
    expected = {
        "PAID": ("already_paid", "PAID"),
        "REPAID": ("already_paid", "REPAID"),
        "ANGRY": ("complaint_open", "ANGRY"),
        "PROMISED": ("promise_not_due", "PROMISED"),
        "WRONG": ("wrong_person", "WRONG"),
        "DEAD": ("dead_line", "DEAD"),
        "FREE": None,
    }
    for key, answer in expected.items():
        assert both(key) == (answer, answer), key


def test_a_contact_limit_saved_applies_to_the_next_check(call, task):
    call("c1", code="LMS", borrower="U1", at=_ago(days=2))
    call("c2", code="Busy", borrower="U1", at=_ago(days=1))
    assert both("U1") == (None, None)
    limits = ContactLimits.objects.create(account=task.account, max_calls_7d=2)
    assert both("U1") == (("at_contact_limit", "U1"),) * 2
    limits.max_calls_7d = 3
    limits.save()
    assert both("U1") == (None, None)


def test_a_setting_changed_applies_to_the_next_check(call, settings):
    settings.BLUDASH_STOP_DEAD_LINE_TIMES = 2
    call("c1", code="D03", borrower="U1", at=_ago(days=2))
    assert both("U1") == (None, None)
    settings.BLUDASH_STOP_DEAD_LINE_TIMES = 1
    assert both("U1") == (("dead_line", "U1"),) * 2


def test_a_reason_added_is_asked(call, monkeypatch):
    call("c1", code="NOST", borrower="U1", at=_ago(days=1))
    assert both("U1") == (None, None)

    def any_nost(borrowers, now):
        calls = stop_list.among(CallRecord.objects.filter(code="NOST"), borrowers)
        return [stop_list.earliest(calls, "start_time")]

    extra = stop_list.Reason("nost", "Any NOST", any_nost)
    monkeypatch.setattr(stop_list, "REASONS", [*stop_list.REASONS, extra])
    assert both("U1") == (("nost", "U1"),) * 2


def test_a_time_the_check_does_not_shift_gets_no_kept_statement(db, monkeypatch):
    """A reason asking about a fixed moment cannot be kept with the check's time filled in: the
    ORM builds its statement for each check instead."""
    fixed = timezone.now() - timedelta(days=1)

    def since_yesterday(borrowers, now):
        calls = stop_list.among(CallRecord.objects.filter(start_time__gt=fixed), borrowers)
        return [stop_list.earliest(calls, "start_time")]

    extra = stop_list.Reason("fixed", "Fixed", since_yesterday)
    monkeypatch.setattr(stop_list, "REASONS", [*stop_list.REASONS, extra])
    assert stop_statement.statement(1) is None


def test_a_time_cut_to_the_day_gets_no_kept_statement(db, monkeypatch):
    """A reason asking from the start of the company's day moves with the check's time, but
    not by a fixed offset: kept, it would ask from the wrong moment at any hour but one."""

    def called_today(borrowers, now):
        midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        calls = stop_list.among(CallRecord.objects.filter(start_time__gte=midnight), borrowers)
        return [stop_list.earliest(calls, "start_time")]

    extra = stop_list.Reason("today", "Called today", called_today)
    monkeypatch.setattr(stop_list, "REASONS", [*stop_list.REASONS, extra])
    assert stop_statement.statement(1) is None
