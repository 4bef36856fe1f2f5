"""What people see of the contact limits: the flag on a call that broke one wherever calls are
listed, the borrower's standing against each rule, the borrower list's filter, the one question
the stop list asks, and the limits edited (and audited) in the admin."""

from __future__ import annotations

from datetime import time, timedelta

from django.urls import reverse
from django.utils import timezone

from calls.limits import standing
from calls.models import AuditEvent, Borrower, CallRecord, ContactLimits
from tests.helpers import html_text


def test_a_call_over_the_limit_is_flagged_in_the_lists_the_task_and_its_own_page(
    staff_client, call, limits, task
):
    limits(max_calls_7d=1)
    call("ok", "2024-03-01 12:00:00")
    call("over", "2024-03-02 12:00:00")
    over = CallRecord.objects.get(call_id="over")

    for url in (
        reverse("calls:call_list") + "?on_or_before=2024-03-05&started_after=",
        reverse("calls:task_detail", args=[task.pk]),
        reverse("calls:call_detail", args=[over.pk]),
        over.borrower.get_absolute_url(),
    ):
        response = staff_client.get(url)
        assert response.status_code == 200, url
        assert html_text(response.content.decode()).count("over 7-day limit") == 1, url

    detail = staff_client.get(reverse("calls:call_detail", args=[over.pk - 1])).content.decode()
    assert "none broken" in detail


def test_the_borrower_page_says_where_the_borrower_stands_against_each_rule(
    staff_client, call, limits
):
    limits(hold_off_days=3)
    now = timezone.now()
    for n in range(4):
        call(f"c{n}", now - timedelta(days=n + 1), code="LMS")
    call("talk", now - timedelta(hours=12), code="NOST")

    borrower = Borrower.objects.get(key="U1")
    page = html_text(staff_client.get(borrower.get_absolute_url()).content.decode())

    assert "5 of 7 calls in the last 7 days" in page
    until = timezone.localtime(
        CallRecord.objects.get(call_id="talk").start_time + timedelta(days=3)
    )
    assert f"Hold-off until {until:%Y-%m-%d %H:%M}" in page
    assert "Calls from 08:00 to 21:00 Asia/Colombo" in page


def test_at_the_limit_the_standing_says_when_the_next_call_is_within_it(call, limits):
    limits(max_calls_7d=2)
    now = timezone.now().replace(microsecond=0)
    call("old", now - timedelta(days=6))
    call("new", now - timedelta(days=1))

    found = standing.standing(Borrower.objects.get(key="U1"), now)

    assert found.at_call_limit and found.at_or_over_limit
    oldest = CallRecord.objects.get(call_id="old").start_time
    assert found.calls_allowed_at is not None
    assert (
        oldest + timedelta(days=7) < found.calls_allowed_at <= oldest + timedelta(days=7, seconds=1)
    )
    assert not standing.standing(
        Borrower.objects.get(key="U1"), found.calls_allowed_at
    ).at_call_limit


def test_the_stop_lists_question_names_the_borrowers_at_a_limit_and_no_others(
    call, limits, account
):
    limits(max_calls_7d=2, hold_off_days=2)
    now = timezone.now()
    call("a1", now - timedelta(days=3), borrower="AT")
    call("a2", now - timedelta(days=2), borrower="AT")
    call("h1", now - timedelta(days=1), code="NOST", borrower="HELD")
    call("o1", now - timedelta(days=1), borrower="FREE")
    call("t1", now - timedelta(days=5), code="NOST", borrower="TALKED_LONG_AGO")

    assert standing.keys_at_limit(account) == {"AT", "HELD"}
    assert standing.keys_at_limit(account, now + timedelta(days=2)) == {"AT"}


def test_the_borrower_list_filters_those_at_or_over_a_limit(staff_client, call, limits):
    limits(max_calls_7d=2)
    now = timezone.now()
    call("a1", now - timedelta(days=2), borrower="AT")
    call("a2", now - timedelta(days=1), borrower="AT")
    call("f1", now - timedelta(days=1), borrower="FREE")
    url = reverse("calls:borrower_list")

    everyone = html_text(staff_client.get(url).content.decode())
    filtered = html_text(staff_client.get(url + "?at_limit=1").content.decode())
    searched = html_text(staff_client.get(url + "?at_limit=1&q=FR").content.decode())

    assert "AT" in everyone and "FREE" in everyone
    assert "AT" in filtered and "FREE" not in filtered
    assert "No borrowers match" in searched


def test_no_limit_on_calls_means_nobody_is_at_it(call, limits, account):
    limits(max_calls_7d=None)
    now = timezone.now()
    for n in range(9):
        call(f"c{n}", now - timedelta(hours=n + 1))
    assert standing.keys_at_limit(account) == set()


def test_an_admin_edits_the_limits_with_the_account_and_the_change_is_audited(
    admin_client_, account, django_capture_on_commit_callbacks
):
    from tests.test_admin import change_url, form_data

    form = form_data(
        account,
        **{
            "contact_limits-TOTAL_FORMS": "1",
            "contact_limits-INITIAL_FORMS": "0",
            "contact_limits-0-account": str(account.pk),
            "contact_limits-0-max_calls_7d": "5",
            "contact_limits-0-hold_off_days": "7",
            "contact_limits-0-calling_from": "09:00",
            "contact_limits-0-calling_until": "20:00",
        },
    )
    with django_capture_on_commit_callbacks() as queued:
        response = admin_client_.post(change_url(account), form, follow=True)

    assert "flagged again against the new contact limits" in response.content.decode()
    saved = ContactLimits.objects.get(account=account)
    assert (saved.max_calls_7d, saved.hold_off_days) == (5, 7)
    assert (saved.calling_from, saved.calling_until) == (time(9), time(20))
    event = AuditEvent.objects.get(action=AuditEvent.Action.ACCOUNT_CHANGED)
    assert event.details["contact_limits"] == {
        "calling_from": "09:00",
        "calling_until": "20:00",
        "hold_off_days": 7,
        "max_calls_7d": 5,
    }
    assert len(queued) == 1


def test_the_admin_refuses_hours_that_leave_no_time_to_call_and_saves_nothing(
    admin_client_, account
):
    from tests.test_admin import change_url, form_data

    form = form_data(
        account,
        **{
            "contact_limits-TOTAL_FORMS": "1",
            "contact_limits-INITIAL_FORMS": "0",
            "contact_limits-0-account": str(account.pk),
            "contact_limits-0-max_calls_7d": "0",
            "contact_limits-0-hold_off_days": "0",
            "contact_limits-0-calling_from": "09:00",
            "contact_limits-0-calling_until": "09:00",
        },
    )
    response = admin_client_.post(change_url(account), form)

    page = html_text(response.content.decode())
    assert response.status_code == 200
    assert "no call could ever be made" in page
    assert "greater than or equal to 1" in page
    assert not ContactLimits.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ACCOUNT_CHANGED).exists()
