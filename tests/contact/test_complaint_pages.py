"""The complaints pages: for managers only, the list by state with ages, one complaint with its
call's recording and script, and the form that acknowledges, assigns, notes and resolves."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from calls.ingest import callbacks
from calls.models import AuditEvent, Complaint
from tests.helpers import BLU_EXAMPLE, callback_body, html_text


@pytest.fixture
def complaint(task):
    record = {
        **BLU_EXAMPLE,
        "taskId": task.blu_task_id,
        "callId": "cpl-1",
        "code": "CPL",
        "desc": "Inclined to complain",
        "extVars": json.dumps({"uniqueId": "U-77"}),
        "script": [
            {"role": "robot", "content": "Hello, about your loan"},
            {"role": "user", "content": "Stop calling me, I will complain"},
        ],
    }
    callbacks.receive(task.account, callback_body(record))
    return Complaint.objects.get()


def test_anonymous_visitors_are_sent_to_sign_in(client, complaint):
    for url in (
        reverse("calls:complaint_list"),
        reverse("calls:complaint_detail", args=[complaint.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_collections_staff_may_not_open_complaints(staff_client, complaint):
    assert staff_client.get(reverse("calls:complaint_list")).status_code == 403
    detail = reverse("calls:complaint_detail", args=[complaint.pk])
    assert staff_client.get(detail).status_code == 403
    assert staff_client.post(detail, {"state": "resolved"}).status_code == 403
    assert Complaint.objects.get().state == "new"


def test_the_list_shows_open_complaints_with_borrower_call_and_age(manager_client, complaint):
    page = manager_client.get(reverse("calls:complaint_list")).content.decode()
    text = html_text(page)
    assert "U-77" in text and "cpl-1" in text and "CPL" in text
    assert 'id="tab-open"' in page and "Open 1" in text and "Resolved 0" in text
    assert reverse("calls:complaint_detail", args=[complaint.pk]) in page


def test_a_complaint_shows_the_calls_recording_inline_and_its_script(manager_client, complaint):
    page = manager_client.get(reverse("calls:complaint_detail", args=[complaint.pk])).content
    page = page.decode()
    assert '<audio id="recording"' in page
    assert reverse("calls:call_recording", args=[complaint.call_id]) in page
    assert "Stop calling me, I will complain" in html_text(page)
    # The recording link is Blu's bearer secret: it never reaches the page.
    assert BLU_EXAMPLE["recordUrl"] not in page


def test_a_manager_acknowledges_then_resolves_a_complaint(manager_client, manager, complaint):
    url = reverse("calls:complaint_detail", args=[complaint.pk])
    response = manager_client.post(
        url, {"state": "acknowledged", "assignee": str(manager.pk), "note": "Will call back"}
    )
    assert response.status_code == 302
    complaint.refresh_from_db()
    assert complaint.state == "acknowledged" and complaint.assignee == manager

    manager_client.post(url, {"state": "resolved", "assignee": str(manager.pk), "note": "Done"})
    complaint.refresh_from_db()
    assert complaint.state == "resolved" and complaint.note == "Done"
    page = html_text(manager_client.get(url).content.decode())
    assert "new → acknowledged" in page and "acknowledged → resolved" in page
    assert AuditEvent.objects.filter(action=AuditEvent.Action.COMPLAINT_CHANGED).count() == 2
    listed = html_text(manager_client.get(reverse("calls:complaint_list")).content.decode())
    assert "Open 0" in listed and "Resolved 1" in listed


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"state": "closed"}, "is not a state"),
        ({"state": "resolved", "assignee": "someone"}, "Choose who handles it"),
        ({"state": "resolved", "assignee": "999999"}, "may not handle complaints"),
        # A digit to str.isdigit(), not to int().
        ({"state": "resolved", "assignee": "\u00b2"}, "Choose who handles it"),
        # PostgreSQL text cannot hold NUL: refused with a message, not a database error.
        ({"state": "resolved", "note": "called\x00back"}, "NUL"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_changes_nothing(
    manager_client, complaint, data, message
):
    url = reverse("calls:complaint_detail", args=[complaint.pk])
    response = manager_client.post(url, data, follow=True)
    assert message in html_text(response.content.decode())
    assert Complaint.objects.get().state == "new"
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.COMPLAINT_CHANGED).exists()


def test_an_unknown_complaint_is_not_found(manager_client, db):
    assert manager_client.get(reverse("calls:complaint_detail", args=[999])).status_code == 404
