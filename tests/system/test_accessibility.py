"""Every page, as each role sees it, passes axe-core's WCAG 2.1 A and AA rules in Chromium; and the
Conclusions table reads as a table, not as an alarm."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from playwright.sync_api import BrowserContext, Page

from calls.models import CallRecord, Task
from tests.helpers import IN_A_BROWSER, browser_sign_in

pytestmark = IN_A_BROWSER

WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


@pytest.fixture
def page(browser_context: BrowserContext) -> Page:
    return browser_context.new_page()


def pages(task: Task) -> list[str]:
    call = CallRecord.objects.filter(task=task).order_by("pk").first()
    assert call is not None
    return [
        reverse("calls:overview"),
        reverse("calls:when_calls_work"),
        reverse("calls:task_list"),
        reverse("calls:task_register"),
        reverse("calls:task_detail", args=[task.pk]),
        reverse("calls:call_list"),
        reverse("calls:call_list") + "?code=no-such-code",  # the empty table
        reverse("calls:call_detail", args=[call.pk]),
        reverse("calls:conclusions"),
        reverse("calls:health"),
        reverse("calls:borrower_list"),
        reverse("calls:promise_list"),
        reverse("calls:borrower_detail", kwargs={"key": call.borrower.key}),
    ]


def violations(page: Page) -> list[str]:
    results = Axe().run(page, options=WCAG_21_AA)
    return [
        f"{violation['id']} ({violation['impact']}): {node['target']} {node['failureSummary']}"
        for violation in results.response["violations"]
        for node in violation["nodes"]
    ]


def test_the_sign_in_page_passes_wcag_21_aa(page):
    page.goto(reverse("login"))
    assert violations(page) == []


@pytest.mark.parametrize("role", ["agent", "manager", "boss"])
def test_every_page_passes_wcag_21_aa_for_every_role(
    page, synced, staff_user, manager, admin_user, role
):
    browser_sign_in(page, role)
    page.wait_for_url(lambda url: "login" not in url)
    found = {}
    for url in pages(synced):
        page.goto(url)
        if problems := violations(page):
            found[url] = problems
    assert found == {}


def test_the_conclusions_table_is_not_painted_red(page, synced, manager):
    browser_sign_in(page, "manager", then=reverse("calls:conclusions"))
    page.wait_for_url(lambda url: "conclusions" in url)

    backgrounds = page.evaluate(
        """() => [...document.querySelectorAll("main table td")].map(
            (cell) => getComputedStyle(cell).backgroundColor
        )"""
    )

    assert backgrounds, "the conclusions table has cells"
    reddish = [
        colour
        for colour in set(backgrounds)
        # Any tint of red, pale ones too (#fde2e2): red above both other channels by 20.
        if (rgb := [int(part) for part in colour[colour.index("(") + 1 : -1].split(",")[:3]])
        and rgb[0] - max(rgb[1], rgb[2]) > 20
    ]
    assert reddish == [], backgrounds


def test_an_export_page_passes_wcag_21_aa_queued_and_done(page, synced, manager):
    from calls.exports import background, jobs

    queued = background.new_job(manager, "xlsx", "started_after=")
    done = jobs.run(background.new_job(manager, "csv", "started_after=").pk)
    assert done is not None and done.state == "done"
    browser_sign_in(page, "manager")
    page.wait_for_url(lambda url: "login" not in url)
    found = {}
    for job in (queued, done):
        page.goto(job.get_absolute_url())
        if problems := violations(page):
            found[job.state] = problems
    assert found == {}
