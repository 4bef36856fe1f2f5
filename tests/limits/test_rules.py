"""Each contact limit, held against calls that arrive by callback: the rolling 7 days at its
edges, the hold-off after a right-party conversation, the calling hours on the account's clock
across a change of the clocks. A call that broke a rule is flagged, the others are not."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from calls.limits import breaches, rules
from calls.models import CallLimitBreach, CallRecord, ContactLimits


def flags(call_id: str) -> list[str]:
    breach = CallLimitBreach.objects.filter(call__call_id=call_id).first()
    return breach.labels() if breach else []


def test_the_call_over_the_limit_in_seven_days_is_flagged_and_the_ones_before_are_not(call, limits):
    limits(max_calls_7d=2)
    call("c1", "2024-03-01 10:00:00")
    call("c2", "2024-03-03 10:00:00")
    call("c3", "2024-03-05 10:00:00")

    assert flags("c1") == flags("c2") == []
    assert flags("c3") == ["over 7-day limit"]


def test_a_call_exactly_seven_days_earlier_is_in_the_window_and_a_second_later_is_not(call, limits):
    limits(max_calls_7d=2)
    call("a1", "2024-03-01 10:00:00", borrower="A")
    call("a2", "2024-03-04 10:00:00", borrower="A")
    call("a3", "2024-03-08 10:00:00", borrower="A")  # exactly 7 days after a1
    call("b1", "2024-03-01 10:00:00", borrower="B")
    call("b2", "2024-03-04 10:00:00", borrower="B")
    call("b3", "2024-03-08 10:00:01", borrower="B")

    assert flags("a3") == ["over 7-day limit"]
    assert flags("b3") == []


def test_the_default_allows_seven_calls_in_seven_days_and_flags_the_eighth(call):
    for day in range(1, 9):
        call(f"c{day}", f"2024-03-0{day} 10:00:00")

    assert [flags(f"c{day}") for day in range(1, 8)] == [[]] * 7
    assert flags("c8") == ["over 7-day limit"]


def test_an_earlier_call_arriving_late_flags_the_later_call_it_pushes_over(call, limits):
    limits(max_calls_7d=2)
    call("c1", "2024-03-01 10:00:00")
    call("c3", "2024-03-03 10:00:00")
    assert flags("c3") == []

    call("c2", "2024-03-02 10:00:00")

    assert flags("c2") == []
    assert flags("c3") == ["over 7-day limit"]


def test_a_call_moved_to_another_borrower_unflags_the_one_it_pushed_over(call, limits):
    limits(max_calls_7d=1)
    call("c1", "2024-03-01 10:00:00", borrower="U1")
    call("c2", "2024-03-02 10:00:00", borrower="U1")
    assert flags("c2") == ["over 7-day limit"]

    # Blu's corrected record names another borrower for the first call.
    call("c1", "2024-03-01 10:00:00", borrower="U2")

    assert flags("c2") == []


def test_calls_within_the_hold_off_after_a_conversation_are_flagged(call, limits):
    limits(hold_off_days=7)
    call("talk", "2024-03-01 12:00:00", code="NOST")  # right party: the borrower spoke
    call("soon", "2024-03-04 12:00:00", code="LMS")
    call("last", "2024-03-08 11:59:59", code="LMS")
    call("after", "2024-03-08 12:00:00", code="LMS")  # exactly 7 days on: allowed

    assert flags("talk") == []
    assert flags("soon") == flags("last") == ["in hold-off"]
    assert flags("after") == []


def test_no_hold_off_by_default_and_none_after_a_call_that_reached_nobody(call, limits):
    call("talk", "2024-03-01 12:00:00", code="NOST")
    call("next", "2024-03-02 12:00:00")
    assert flags("next") == []

    limits(hold_off_days=7)
    call("machine", "2024-03-10 12:00:00", code="LMS")  # voicemail: not a conversation
    call("again", "2024-03-11 12:00:00", code="LMS")
    assert flags("again") == []


def test_calling_hours_are_read_on_the_accounts_clock_at_both_ends(call, account):
    account.time_zone = "America/New_York"
    account.save()
    call("early", "2024-03-10 07:59:59")
    call("opening", "2024-03-10 08:00:00", borrower="U2")
    call("closing", "2024-03-10 21:00:00", borrower="U3")
    call("late", "2024-03-10 21:00:01", borrower="U4")

    assert flags("early") == flags("late") == ["outside hours"]
    assert flags("opening") == flags("closing") == []


def test_the_same_utc_hour_is_outside_hours_before_the_spring_change_and_inside_after():
    limits = ContactLimits()  # 08:00 to 21:00
    zone = ZoneInfo("America/New_York")
    # 12:30 UTC: 07:30 EST on the Saturday, 08:30 EDT on the Monday (clocks went on on Sunday).
    assert rules.outside_hours(datetime(2024, 3, 9, 12, 30, tzinfo=UTC), limits, zone)
    assert not rules.outside_hours(datetime(2024, 3, 11, 12, 30, tzinfo=UTC), limits, zone)
    # And back in autumn: 12:30 UTC is 08:30 EDT before, 07:30 EST after.
    assert not rules.outside_hours(datetime(2024, 11, 2, 12, 30, tzinfo=UTC), limits, zone)
    assert rules.outside_hours(datetime(2024, 11, 4, 12, 30, tzinfo=UTC), limits, zone)


def test_calls_across_the_change_of_the_clocks_are_flagged_by_their_local_time(call, account):
    account.time_zone = "America/New_York"
    account.save()
    call("sat", "2024-03-09 07:30:00")
    call("mon", "2024-03-11 08:30:00", borrower="U2")

    stored = dict(CallRecord.objects.values_list("call_id", "start_time"))
    assert stored["sat"].astimezone(UTC).hour == stored["mon"].astimezone(UTC).hour == 12
    assert flags("sat") == ["outside hours"]
    assert flags("mon") == []


def test_calling_hours_past_midnight_allow_the_night_and_refuse_the_day():
    night = ContactLimits(calling_from=time(22), calling_until=time(6))
    assert night.allows_time(time(23, 30)) and night.allows_time(time(5, 59))
    assert not night.allows_time(time(12))


def test_a_recheck_after_the_limits_change_flags_the_stored_calls_again(call, limits, account):
    call("c1", "2024-03-01 10:00:00")
    call("c2", "2024-03-02 10:00:00")
    assert flags("c2") == []

    limits(max_calls_7d=1)
    assert breaches.recheck(account) == 1

    assert flags("c2") == ["over 7-day limit"]
    limits(max_calls_7d=None)
    breaches.recheck(account)
    assert not CallLimitBreach.objects.exists()
