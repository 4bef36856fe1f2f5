"""The KPI arithmetic over summary rows and conclusion flags, without a database."""

from datetime import date

from calls.dashboard import kpis
from calls.dashboard.kpis import CodeTotal
from calls.models import Conclusion


def conclusion(code: str, *flags: str, classified: bool = True) -> Conclusion:
    return Conclusion(
        code=code, label=code.title(), classified=classified, **dict.fromkeys(flags, True)
    )


CONCLUSIONS = {
    c.code: c
    for c in [
        conclusion("PTP", "connected", "live_person", "right_party", "promise_to_pay"),
        conclusion("AP", "connected", "live_person", "right_party", "already_paid"),
        conclusion("CPL", "connected", "live_person", "right_party", "complaint"),
        conclusion("NOST", "connected", "live_person", "right_party"),
        conclusion("NotOneself", "connected", "live_person"),
        conclusion("LMS", "connected"),
        conclusion("D00"),
        conclusion("NEW", "connected", "live_person", classified=False),
    ]
}

ROWS = [
    CodeTotal("PTP", 6, answered=6, talk_seconds=600),
    CodeTotal("AP", 2, answered=2, talk_seconds=100),
    CodeTotal("CPL", 1, answered=1, talk_seconds=50),
    CodeTotal("NOST", 3, answered=3, talk_seconds=150),
    CodeTotal("NotOneself", 4, answered=4, talk_seconds=40),
    CodeTotal("LMS", 5, answered=5, talk_seconds=60),
    CodeTotal("D00", 20),
    CodeTotal("NEW", 7, answered=7, talk_seconds=0),  # flagged, but nobody classified it
    CodeTotal("GONE", 2),  # a code no Conclusion knows
    CodeTotal("", 10),  # in progress
]


def test_every_flag_counts_calls_whose_classified_code_carries_it():
    k = kpis.kpis(ROWS, CONCLUSIONS)

    assert k.placed == 60
    assert k.connected == 6 + 2 + 1 + 3 + 4 + 5
    assert k.live_person == 6 + 2 + 1 + 3 + 4
    assert k.right_party == 6 + 2 + 1 + 3
    assert (k.promises, k.already_paid, k.complaints) == (6, 2, 1)


def test_unclassified_and_unknown_codes_stay_in_the_denominator_and_out_of_every_numerator():
    k = kpis.kpis(ROWS, CONCLUSIONS)

    assert k.unclassified == 7 + 2
    assert k.connect_rate.denominator == 60 and k.connect_rate.numerator == 21
    assert k.live_contact_rate.numerator == 16  # NEW's live_person flag does not count


def test_calls_in_progress_are_placed_calls_counted_apart():
    k = kpis.kpis(ROWS, CONCLUSIONS)

    assert k.in_progress == 10 and k.placed == 60


def test_calls_that_ended_without_a_code_are_finished_with_an_unknown_outcome():
    k = kpis.kpis([*ROWS, CodeTotal(kpis.NO_CODE, 4)], CONCLUSIONS)

    assert (k.placed, k.in_progress, k.unclassified) == (64, 10, 7 + 2 + 4)
    (row,) = kpis.breakdown([CodeTotal(kpis.NO_CODE, 4)], CONCLUSIONS)
    assert (row.label, row.category) == ("Ended without a code", "Unclassified")
    mix = kpis.mix({kpis.NO_CODE: 4, "": 1}, CONCLUSIONS)
    assert [(s.category, s.calls) for s in mix] == [("Unclassified", 4), ("In progress", 1)]


def test_the_promise_rate_is_promises_over_right_party_contacts():
    rate = kpis.kpis(ROWS, CONCLUSIONS).promise_rate

    assert (rate.numerator, rate.denominator) == (6, 12)
    assert rate.percent == "50.0%"
    assert rate.title == "6 promises to pay / 12 right-party contacts (counts calls, not people)"


def test_a_rate_over_nothing_is_a_dash_not_a_division_by_zero():
    k = kpis.kpis([], CONCLUSIONS)

    assert k.connect_rate.value is None and k.connect_rate.percent == "—"
    assert k.average_talk.value is None


def test_average_talk_is_talk_seconds_over_answered_calls():
    k = kpis.kpis(ROWS, CONCLUSIONS)

    assert k.average_talk.value == 1000 / 28


def test_periods_end_today_and_count_7_and_30_calendar_days():
    today = date(2024, 3, 31)
    rows = [
        (date(2024, 3, 31), CodeTotal("PTP", 1)),
        (date(2024, 3, 25), CodeTotal("PTP", 10)),  # 7th day back: inside 7 days
        (date(2024, 3, 24), CodeTotal("PTP", 100)),  # 8th day back: outside
        (date(2024, 3, 2), CodeTotal("PTP", 1000)),  # 30th day back: inside 30 days
        (date(2024, 3, 1), CodeTotal("PTP", 10000)),
        (date(2024, 4, 1), CodeTotal("PTP", 100000)),  # after today: nowhere
    ]

    today_, week, month = kpis.periods(rows, today, CONCLUSIONS)

    assert (today_.kpis.placed, week.kpis.placed, month.kpis.placed) == (1, 11, 1111)
    assert (week.first, month.first) == (date(2024, 3, 25), date(2024, 3, 2))


def test_the_mix_stacks_categories_most_valuable_first_and_in_progress_last():
    segments = kpis.mix({"": 3, "D00": 4, "PTP": 2, "GONE": 1, "NOST": 5}, CONCLUSIONS)

    assert [(s.category, s.calls) for s in segments] == [
        ("Promise to pay", 2),
        ("Right party", 5),
        ("Not connected", 4),
        ("Unclassified", 1),
        ("In progress", 3),
    ]
    assert segments[0].share.denominator == 15


def test_the_daily_mix_has_every_day_even_without_calls():
    rows = [(date(2024, 3, 3), CodeTotal("PTP", 2)), (date(2024, 3, 3), CodeTotal("D00", 1))]

    days = kpis.daily_mix(rows, date(2024, 3, 1), date(2024, 3, 4), CONCLUSIONS)

    assert [(d.day.day, d.total) for d in days] == [(1, 0), (2, 0), (3, 3), (4, 0)]


def test_the_breakdown_shares_are_of_calls_with_a_code():
    rows = kpis.breakdown(ROWS, CONCLUSIONS)

    assert [r.code for r in rows][:3] == ["D00", "NEW", "PTP"]
    ptp = next(r for r in rows if r.code == "PTP")
    assert (ptp.share.numerator, ptp.share.denominator) == (6, 50)
    assert ptp.average_talk.value == 100 and ptp.category == "Promise to pay"
    assert next(r for r in rows if r.code == "GONE").category == "Unclassified"


def test_the_funnel_narrows_from_placed_to_promise():
    steps = kpis.funnel(kpis.kpis(ROWS, CONCLUSIONS))

    assert [(s.name, s.calls) for s in steps] == [
        ("Placed", 60),
        ("Connected", 21),
        ("Live person", 16),
        ("Right party", 12),
        ("Promise to pay", 6),
    ]
    assert steps[-1].of_placed.percent == "10.0%"
