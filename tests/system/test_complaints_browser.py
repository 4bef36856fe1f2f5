"""In a real browser: a complaint call arrives by Blu's callback, a manager acknowledges and
resolves the complaint it opened, and its borrower leaves the stop list."""

from __future__ import annotations

import json

import pytest
import requests
from django.urls import reverse
from playwright.sync_api import Page, expect

from calls.models import Complaint
from tests.helpers import BLU_EXAMPLE, IN_A_BROWSER, browser_sign_in, callback_path

pytestmark = IN_A_BROWSER


@pytest.fixture
def page(browser_context) -> Page:
    return browser_context.new_page()


def test_a_complaint_call_arrives_is_acknowledged_and_resolved_and_leaves_the_stop_list(
    page, live_server, manager, make_task
):
    task = make_task("66547750", calls=0)
    record = {
        **BLU_EXAMPLE,
        "taskId": task.blu_task_id,
        "callId": "cpl-browser",
        "code": "Complan",
        "desc": "Complains, stop calling",
        "extVars": json.dumps({"uniqueId": "ANGRY-1"}),
    }
    # Blu pushes the call over HTTP, as it would.
    response = requests.post(
        live_server.url + callback_path(task.account.callback_token),
        json={"taskId": task.blu_task_id, "records": [record]},
        timeout=10,
    )
    assert response.status_code == 200

    browser_sign_in(page, "manager", then=reverse("calls:stop_list"))
    expect(page.locator("#stop-list")).to_contain_text("ANGRY-1")
    expect(page.locator("#reason-complaint_open")).to_contain_text("1")

    page.get_by_role("link", name="Complaints").click()
    expect(page.locator("#complaints")).to_contain_text("ANGRY-1")
    complaint = Complaint.objects.get()
    page.get_by_role("link", name=f"#{complaint.pk}").click()

    page.locator("#id_state").select_option("acknowledged")
    page.locator("#id_assignee").select_option(label="manager")
    page.locator("#id_note").fill("Called back, apologised")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#complaint-state")).to_have_text("Acknowledged")
    expect(page.locator("#complaint-history")).to_contain_text("new → acknowledged")

    # Acknowledged is still open: the borrower stays on the stop list until it is resolved.
    page.goto(reverse("calls:stop_list"))
    expect(page.locator("#stop-list")).to_contain_text("ANGRY-1")

    page.goto(reverse("calls:complaint_detail", args=[complaint.pk]))
    page.locator("#id_state").select_option("resolved")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#complaint-state")).to_have_text("Resolved")

    page.goto(reverse("calls:stop_list"))
    expect(page.locator("#nobody-stopped")).to_be_visible()
    expect(page.locator("#reason-complaint_open")).to_contain_text("0")
    complaint.refresh_from_db()
    assert complaint.state == "resolved" and complaint.assignee == manager
