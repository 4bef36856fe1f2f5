"""In a real browser, under the Content-Security-Policy: every page, the admin's included, loads
without a single violation or console error, and what runs on them still runs (the live refresh,
the SVG charts, the recording player).

The browser reports each violation as a `securitypolicyviolation` event; a script added before any
page script forwards them to the test, which also collects console errors and uncaught exceptions.
"""

from __future__ import annotations

import contextlib
import re

import pytest
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import BrowserContext, Page, expect

from calls.models import CallRecord
from tests.helpers import IN_A_BROWSER, browser_sign_in

pytestmark = IN_A_BROWSER

LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations = (window.cspViolations || 0) + 1;
  window.reportViolation(
    `${location.pathname}: ${event.effectiveDirective} refused ${event.blockedURI || "inline"}` +
      ` (${event.sourceFile || "page"}:${event.lineNumber})`
  );
});
"""


class Watched:
    """A browser tab and everything that went wrong in it."""

    def __init__(self, context: BrowserContext) -> None:
        self.problems: list[str] = []
        context.expose_function("reportViolation", self._violation)
        context.add_init_script(LISTENER)
        self.page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))

    def _violation(self, text: str) -> None:
        self.problems.append(f"violation: {text}")

    def _console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text} ({message.location.get('url')})")

    def visit(self, url: str) -> Page:
        response = self.page.goto(url, wait_until="load")
        assert response is not None and response.ok, (
            f"{url} answered {response and response.status}"
        )
        return self.page

    def assert_clean(self) -> None:
        # The page's own count too: the last page's reports may still be on their way here.
        assert self.page.evaluate("window.cspViolations || 0") == 0
        assert self.problems == []


@pytest.fixture
def watched(browser_context: BrowserContext) -> Watched:
    return Watched(browser_context)


@pytest.fixture
def world(synced, settings) -> dict:
    settings.BLUDASH_LIVE_REFRESH_SECONDS = 1  # the script makes it 5 s, its shortest
    call = synced.calls.exclude(record_url="").first()
    assert call is not None
    return {"task": synced, "call": call}


def dashboard_pages(world: dict) -> list[str]:
    return [
        reverse("calls:overview"),
        reverse("calls:task_list"),
        reverse("calls:task_detail", args=[world["task"].pk]),
        reverse("calls:call_list") + "?started_after=",
        reverse("calls:call_detail", args=[world["call"].pk]),
        reverse("calls:conclusions"),
    ]


def admin_pages(world: dict) -> list[str]:
    pages = [
        reverse("admin:index"),
        reverse("admin:calls_bluaccount_change", args=[world["task"].account_id]),
        reverse("admin:calls_task_changelist"),
    ]
    for optional in ["admin:calls_auditevent_changelist", "calls:health"]:
        with contextlib.suppress(NoReverseMatch):  # not built (yet)
            pages.append(reverse(optional))
    return pages


def check_charts_and_player(page: Page, url: str, world: dict) -> None:
    """What the policy could break silently on the pages that have it."""
    if url == reverse("calls:overview"):
        assert_coloured_by_stylesheet(page, "figure.day-chart svg rect[class^='cat-']")
    elif url == reverse("calls:task_list"):
        assert_coloured_by_stylesheet(page, "svg rect[class^='cat-']")
    elif url == reverse("calls:task_detail", args=[world["task"].pk]):
        assert_coloured_by_stylesheet(page, "svg.funnel-bar rect[class^='cat-']")
    elif url == reverse("calls:call_detail", args=[world["call"].pk]):
        # preload="none": the recording is fetched (and audited) only once someone plays it.
        page.evaluate('() => document.querySelector("audio#recording").play()')
        page.wait_for_function(
            """() => {
                const audio = document.querySelector("audio#recording");
                return audio.readyState >= 1 && audio.duration > 0;
            }"""
        )


def assert_coloured_by_stylesheet(page: Page, selector: str) -> None:
    rects = page.locator(selector)
    expect(rects.first).to_be_visible()
    fills = page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)].map((rect) => {
            const box = rect.getBoundingClientRect();
            return [getComputedStyle(rect).fill, box.width > 0 && box.height > 0];
        })""",
        selector,
    )
    # SVG's default fill is black: any other colour came from bludash.css through the class.
    assert fills and all(fill not in ("rgb(0, 0, 0)", "none") for fill, _ in fills), fills
    assert any(drawn for _, drawn in fills)


def live_refresh_works(page: Page) -> None:
    """The overview's two fragments are fetched again by static/js/bludash.js and swapped in."""
    with (
        page.expect_response(lambda r: "/overview/live/" in r.url) as health,
        page.expect_response(lambda r: "fragment=numbers" in r.url) as numbers,
    ):
        page.evaluate("window.notReloaded = true")
    assert health.value.status == numbers.value.status == 200
    expect(page.locator("#sync-health")).not_to_have_class(re.compile(r"\bstale\b"))
    expect(page.locator("#overview-numbers")).not_to_have_class(re.compile(r"\bstale\b"))
    expect(page.locator("#overview-numbers figure.day-chart > svg")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True


# --- the tests -----------------------------------------------------------------------------------


def test_the_listener_hears_a_violation(watched, db):
    """Without this, a silent listener would make every other test here pass."""
    page = watched.visit(reverse("login"))

    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color:red\">x</p>')")

    page.wait_for_function("() => window.cspViolations > 0")
    page.evaluate("1")  # the report goes through the binding before this answer returns
    assert any("style-src" in problem for problem in watched.problems), watched.problems


def test_signing_in_and_the_locked_out_page_break_no_rule(watched, settings, manager):
    settings.BLUDASH_LOGIN_FAILURES_PER_USER = 2
    watched.visit(reverse("login"))
    watched.visit(reverse("admin:login"))

    browser_sign_in(watched.page, "manager", password="wrong-1")
    expect(watched.page.get_by_text("didn't match")).to_be_visible()
    browser_sign_in(watched.page, "manager", password="wrong-2")
    expect(watched.page.get_by_text("Too many failed sign-ins")).to_be_visible()

    # The 429 itself is the one console error a browser shows here.
    watched.problems[:] = [p for p in watched.problems if "429" not in p]
    watched.assert_clean()


def test_staff_pages_break_no_rule_and_still_work(watched, staff_user, world):
    browser_sign_in(watched.page, "agent")
    expect(watched.page.locator(".who")).to_have_text("agent")

    for url in dashboard_pages(world):
        page = watched.visit(url)
        check_charts_and_player(page, url, world)
    page = watched.visit(reverse("calls:overview"))
    live_refresh_works(page)

    watched.assert_clean()


def test_admin_pages_break_no_rule_and_still_work(watched, admin_user, world):
    browser_sign_in(watched.page, "boss")
    expect(watched.page.locator(".who")).to_have_text("boss")

    for url in dashboard_pages(world) + admin_pages(world):
        page = watched.visit(url)
        check_charts_and_player(page, url, world)
    # The admin's own scripts run: its theme switch is one.
    page = watched.visit(reverse("admin:index"))
    before = page.evaluate("document.documentElement.dataset.theme")
    page.get_by_role("button", name=re.compile("Toggle theme")).click()
    expect(page.locator("html")).not_to_have_attribute("data-theme", before)
    page = watched.visit(reverse("calls:overview"))
    live_refresh_works(page)

    watched.assert_clean()


def test_the_recordings_of_every_call_stay_within_the_policy(watched, staff_user, world):
    """media-src 'self': the recording plays from our own address, whatever Blu's host."""
    call = CallRecord.objects.exclude(record_url="").first()
    assert call is not None
    browser_sign_in(watched.page, "agent")
    page = watched.visit(reverse("calls:call_detail", args=[call.pk]))

    played = page.evaluate(
        '() => document.querySelector("audio#recording").play().then(() => "playing")'
    )

    assert played == "playing"
    watched.assert_clean()
