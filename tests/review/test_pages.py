"""The review pages, for managers: a day's sample (drawn there when nobody has), one call with
its recording and script where the robot's conclusion is marked right or wrong (and the right
code), every mark audited, bad input refused with nothing changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from calls.models import AuditEvent, CallReview, ReviewDraw
from calls.review import sample
from tests.helpers import BLU_EXAMPLE, html_text
from tests.review.conftest import DAY

pytestmark = pytest.mark.usefixtures("small_sample")

MARKED = AuditEvent.Action.REVIEW_MARKED


@pytest.fixture
def drawn(calls):
    calls("NOST", 3)
    sample.draw(DAY)
    return list(CallReview.objects.order_by("code", "pk"))


def detail(review: CallReview) -> str:
    return reverse("calls:review_detail", args=[review.pk])


def test_a_day_without_a_sample_offers_to_draw_it_and_a_manager_draws_it(manager_client, calls):
    calls("NOST", 4)
    url = reverse("calls:review_list")

    before = manager_client.get(url, {"day": "2024-01-01"}).content.decode()
    assert "Draw the sample of Mon 1 Jan" in before and 'id="review-drawn"' not in before
    response = manager_client.post(url, {"day": "2024-01-01"}, follow=True)

    page = response.content.decode()
    assert "3 calls drawn: 3 to review on 2024-01-01." in html_text(page)
    assert "by manager: 3 calls" in html_text(page)
    assert page.count('data-review="') == 3
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REVIEW_DRAWN).count() == 1
    # Drawn again from the page: nothing doubles.
    again = manager_client.post(url, {"day": "2024-01-01"}, follow=True)
    assert "no call was added" in html_text(again.content.decode())
    assert CallReview.objects.count() == 3


def test_today_is_the_default_day_and_offers_todays_sample(manager_client, db):
    page = manager_client.get(reverse("calls:review_list")).content.decode()
    assert "Draw today's sample" in page and 'id="next-day"' not in page


@pytest.mark.parametrize("day", ["tomorrow", "", "2024-02-30"])
def test_a_bad_day_to_draw_is_refused_with_a_message(manager_client, db, day):
    response = manager_client.post(reverse("calls:review_list"), {"day": day}, follow=True)
    assert "Choose a day like 2024-08-15" in html_text(response.content.decode())
    assert not ReviewDraw.objects.exists()


def test_a_day_that_has_not_come_is_refused(manager_client, db):
    future = (timezone.localdate() + timedelta(days=2)).isoformat()
    response = manager_client.post(reverse("calls:review_list"), {"day": future}, follow=True)
    assert "has not come yet" in html_text(response.content.decode())
    assert not ReviewDraw.objects.exists()


def test_a_drawn_call_plays_its_recording_inline_with_its_script(manager_client, drawn):
    page = manager_client.get(detail(drawn[0])).content.decode()

    assert '<audio id="recording"' in page
    assert reverse("calls:call_recording", args=[drawn[0].call_id]) in page
    assert BLU_EXAMPLE["recordUrl"] not in page  # Blu's bearer link never reaches the page
    assert 'id="robot-code">NOST<' in page and "not reviewed yet" in page


def test_marking_right_records_it_audits_it_and_goes_to_the_next(manager_client, manager, drawn):
    response = manager_client.post(detail(drawn[0]), {"verdict": "right", "right_code": ""})

    assert response.status_code == 302 and response["Location"] == detail(drawn[1])
    review = CallReview.objects.get(pk=drawn[0].pk)
    assert review.verdict == "right" and review.right_code == "" and review.reviewer == manager
    event = AuditEvent.objects.get(action=MARKED)
    assert event.username == "manager" and event.target == f"review {review.pk}"
    assert event.details["verdict"] == "right" and event.details["code"] == "NOST"
    assert event.details["call"] == review.call.call_id


def test_marking_wrong_keeps_the_right_code_and_a_change_of_mind_is_audited(manager_client, drawn):
    url = detail(drawn[0])
    manager_client.post(url, {"verdict": "wrong", "right_code": "PTP"})
    manager_client.post(url, {"verdict": "right"})
    manager_client.post(url, {"verdict": "wrong", "right_code": "CPL"})

    review = CallReview.objects.get(pk=drawn[0].pk)
    assert (review.verdict, review.right_code) == ("wrong", "CPL")
    events = AuditEvent.objects.filter(action=MARKED).order_by("at", "pk")
    assert [(e.details["verdict"], e.details["right_code"]) for e in events] == [
        ("wrong", "PTP"),
        ("right", ""),
        ("wrong", "CPL"),
    ]
    assert events.last().details["before"] == {"verdict": "right", "right_code": ""}
    page = html_text(manager_client.get(url).content.decode())
    assert "wrong: should have been CPL" in page and "manager: wrong → PTP" in page


def test_the_last_call_marked_leads_back_to_the_days_reviewed_calls(manager_client, drawn):
    for review in drawn:
        response = manager_client.post(detail(review), {"verdict": "right"})
    assert response["Location"] == reverse("calls:review_list") + "?day=2024-01-01&state=reviewed"
    listed = html_text(manager_client.get(response["Location"]).content.decode())
    assert "To review 0" in listed and "Reviewed 3" in listed


def test_the_same_mark_again_changes_nothing_and_audits_nothing_more(manager_client, drawn):
    manager_client.post(detail(drawn[0]), {"verdict": "right"})
    response = manager_client.post(detail(drawn[0]), {"verdict": "right"}, follow=True)
    assert "Nothing changed." in html_text(response.content.decode())
    assert AuditEvent.objects.filter(action=MARKED).count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"verdict": "maybe"}, "Mark the robot's conclusion right or wrong."),
        ({}, "Mark the robot's conclusion right or wrong."),
        ({"verdict": "wrong", "right_code": ""}, "Choose the code the robot should have given."),
        ({"verdict": "wrong", "right_code": "NOST"}, "NOST is the robot's own code"),
        ({"verdict": "wrong", "right_code": "NOPE<b>"}, "is not a known conclusion code"),
        # PostgreSQL text cannot hold NUL: a message, not a database error.
        ({"verdict": "wrong", "right_code": "PT\x00P"}, "is not a known conclusion code"),
        ({"verdict": "right", "right_code": "PTP"}, "You marked NOST right and chose PTP"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_changes_nothing(
    manager_client, drawn, data, message
):
    response = manager_client.post(detail(drawn[0]), data, follow=True)

    page = response.content.decode()
    assert message in html_text(page).replace("&#x27;", "'")
    assert "NOPE<b>" not in page
    assert CallReview.objects.get(pk=drawn[0].pk).verdict == ""
    assert not AuditEvent.objects.filter(action=MARKED).exists()


def test_collections_staff_may_neither_open_nor_mark(staff_client, drawn):
    for url in (reverse("calls:review_list"), reverse("calls:review_accuracy"), detail(drawn[0])):
        assert staff_client.get(url).status_code == 403
    assert staff_client.post(detail(drawn[0]), {"verdict": "right"}).status_code == 403
    assert staff_client.post(reverse("calls:review_list"), {"day": "2024-01-01"}).status_code == 403
    assert CallReview.objects.get(pk=drawn[0].pk).verdict == ""
    assert ReviewDraw.objects.get().drawn_by is None


def test_the_menu_shows_review_to_managers_only(manager_client, staff_user, client):
    assert (
        reverse("calls:review_list")
        in manager_client.get(reverse("calls:overview")).content.decode()
    )
    client.force_login(staff_user)
    assert (
        reverse("calls:review_list") not in client.get(reverse("calls:overview")).content.decode()
    )


def test_an_unknown_review_is_not_found(manager_client, db):
    assert manager_client.get(reverse("calls:review_detail", args=[999])).status_code == 404


def test_a_day_before_any_call_is_refused(manager_client, db):
    response = manager_client.post(reverse("calls:review_list"), {"day": "0001-01-01"}, follow=True)
    assert "is before any call" in html_text(response.content.decode())
    assert not ReviewDraw.objects.exists()
