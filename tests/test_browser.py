"""In a real browser: signing in, filtering, sorting and exporting calls, playing a recording, and
whom the admin lets in; and `manage.py screenshots`. Playwright drives Debian's headless Chromium
against the app served by pytest-django's live_server; Blu is the sandbox over HTTP, recordings
included.
"""

from __future__ import annotations

import csv
import re
import struct
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.db.migrations.loader import MigrationLoader
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect, sync_playwright

from calls.ingest import sync
from calls.migrations._groups import create_groups
from calls.models import AuditEvent, CallRecord, Task

from .conftest import PASSWORD

# Debian's package, never a browser Playwright downloads: CI installs it in .ci/run.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # play() without a click: the test asks for playback as a script, not as a user gesture.
    "--autoplay-policy=no-user-gesture-required",
]
# The sandbox's recording is two seconds of tones (calls/blu/sandbox/audio.py).
RECORDING_SECONDS = 2.0

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]


@pytest.fixture
def browser(monkeypatch) -> Iterator[Browser]:
    # Playwright's sync API keeps an asyncio event loop running in this thread, so Django takes
    # every ORM call the test makes here (fixtures, assertions) for one made from async code and
    # raises SynchronousOnlyOperation. They are plain blocking calls that never run on that loop,
    # so the guard is lifted for as long as Playwright runs: per test, since `manage.py
    # screenshots` starts its own Playwright, which cannot run inside another in one thread.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()
        # While a loop runs, Django keeps this thread's connections apart from the usual ones;
        # closed now, or they would stay open unseen (and PostgreSQL refuse to drop the test
        # database).
        connections.close_all()


@pytest.fixture(autouse=True)
def roles(transactional_db) -> None:
    """The groups the roles migrations make, back after the previous test's flush.

    live_server needs transactional tests, and each ends by emptying every table, including the
    groups a data migration made. The migrations' own function re-adds only what is missing.
    """
    create_groups(MigrationLoader(connection).project_state().apps, None)


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def synced_calls(make_task) -> list[CallRecord]:
    """Thirty ended calls (one page of the calls table), with a mix of codes and recordings."""
    task = make_task(calls=30)
    sync.sync_task(task)
    return list(task.calls.all())


def sign_in(page: Page, username: str, password: str = PASSWORD, then: str = "") -> None:
    """Signs in through the sign-in form; `then` is where the form sends the person afterwards."""
    page.goto(reverse("login") + (f"?{urlencode({'next': then})}" if then else ""))
    page.locator('input[name="username"]').fill(username)
    page.locator('input[name="password"]').fill(password)
    page.get_by_role("button", name="Sign in").click()


def column(page: Page, header: str) -> list[str]:
    """The text of every body cell under the calls table's column headed `header`."""
    return page.evaluate(
        """(header) => {
            const table = document.querySelector("table.calls-table");
            const heads = [...table.querySelectorAll("thead th")];
            const index = heads.findIndex((th) => th.textContent.trim() === header);
            if (index < 0) throw new Error(`no column headed ${header}`);
            return [...table.querySelectorAll("tbody tr")].map(
                (row) => row.cells[index].textContent.trim()
            );
        }""",
        header,
    )


def codes_in_database_order(descending: bool = False) -> list[str]:
    # The database's collation decides where "unknown" sorts against "PTP", not Python's.
    order = "-code" if descending else "code"
    return list(CallRecord.objects.order_by(order).values_list("code", flat=True))


def a_code_some_calls_have(calls: list[CallRecord]) -> str:
    codes = [call.code for call in calls]
    code = max(set(codes), key=codes.count)
    assert 1 < codes.count(code) < len(codes), "the sandbox's mix should give several codes"
    return code


# --- signing in, static files ------------------------------------------------------------------


def test_a_manager_signs_in_through_the_form_and_lands_on_the_overview(page, live_server, manager):
    sign_in(page, "manager")

    expect(page.locator(".who")).to_have_text("manager")
    expect(page).to_have_url(live_server.url + reverse("calls:overview"))
    expect(page.locator("main h1")).to_be_visible()


def test_the_overview_shows_a_failing_sync_without_a_reload(
    page, settings, staff_user, synced_calls
):
    settings.BLUDASH_LIVE_REFRESH_SECONDS = 1
    sign_in(page, "agent")
    expect(page.locator("#sync-health")).to_contain_text("0 tasks")
    page.evaluate("window.notReloaded = true")

    Task.objects.update(last_sync_ok=False, last_error="Blu answered 4004: sign error")

    # The script refreshes every 5 s at the most often (static/js/bludash.js).
    expect(page.locator("#sync-health")).to_contain_text("sign error", timeout=15_000)
    assert page.evaluate("window.notReloaded") is True


def test_a_wrong_password_is_refused_on_the_form(page, manager):
    sign_in(page, "manager", password="not-the-password")

    expect(page.get_by_text("didn't match")).to_be_visible()
    expect(page.locator(".who")).to_have_count(0)


def test_pages_load_their_own_stylesheet_and_script(page):
    loaded: dict[str, int] = {}

    def record(response) -> None:
        if "/static/" in response.url:
            loaded[response.url.rsplit("/", 1)[-1]] = response.status

    page.on("response", record)
    page.goto(reverse("login"))

    assert loaded == {"bludash.css": 200, "bludash.js": 200}
    rules = page.evaluate(
        """() => [...document.styleSheets]
            .filter((sheet) => sheet.href && sheet.href.endsWith("/bludash.css"))
            .map((sheet) => sheet.cssRules.length)"""
    )
    assert len(rules) == 1 and rules[0] > 0


# --- the calls table ---------------------------------------------------------------------------


def test_a_manager_filters_calls_by_a_code_and_sees_only_those(page, manager, synced_calls):
    code = a_code_some_calls_have(synced_calls)
    sign_in(page, "manager", then=reverse("calls:call_list"))

    checkbox = page.locator(f'#call-filters input[type="checkbox"][name="code"][value="{code}"]')
    checkbox.check()
    page.get_by_role("button", name="Apply filters").click()

    page.wait_for_url(re.compile(f"[?&]code={code}(&|$)"))
    expected = sum(call.code == code for call in synced_calls)
    expect(page.locator("table.calls-table tbody tr")).to_have_count(expected)
    assert set(column(page, "Code")) == {code}
    expect(checkbox).to_be_checked()


def test_a_manager_sorts_calls_by_code_both_ways(page, manager, synced_calls):
    sign_in(page, "manager", then=reverse("calls:call_list") + "?started_after=")
    header = page.locator("table.calls-table thead th.orderable a", has_text="Code")

    header.click()
    page.wait_for_url(re.compile("[?&]sort=code(&|$)"))  # and for the sorted page to load
    assert column(page, "Code") == codes_in_database_order()

    header.click()
    page.wait_for_url(re.compile("[?&]sort=-code(&|$)"))
    assert column(page, "Code") == codes_in_database_order(descending=True)


def test_a_manager_exports_the_filtered_calls_as_csv(page, manager, synced_calls):
    code = a_code_some_calls_have(synced_calls)
    sign_in(page, "manager", then=reverse("calls:call_list") + f"?started_after=&code={code}")

    with page.expect_download() as download_info:
        page.locator("a#export-csv").click()

    with open(download_info.value.path(), newline="", encoding="utf-8-sig") as exported:
        rows = list(csv.reader(exported))
    header, body = rows[0], rows[1:]
    expected = {call.call_id for call in synced_calls if call.code == code}
    assert len(body) == len(expected)
    assert {row[header.index("Call")] for row in body} == expected
    assert {row[header.index("Code")] for row in body} == {code}


# --- a call and its recording ------------------------------------------------------------------


def test_a_call_page_plays_its_recording_and_only_playing_it_is_audited(
    page, live_server, staff_user, synced_calls
):
    call = next(call for call in synced_calls if call.record_url)
    sign_in(page, "agent", then=reverse("calls:call_list") + "?started_after=")

    page.locator("table.calls-table").get_by_role("link", name=call.call_id, exact=True).click()

    expect(page).to_have_url(live_server.url + reverse("calls:call_detail", args=[call.pk]))
    audio = page.locator("audio#recording")
    expect(audio).to_have_attribute("src", reverse("calls:call_recording", args=[call.pk]))
    # Opening the page is not listening: nothing is fetched from Blu or written to the audit log.
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.RECORDING_PLAYED).exists()

    played = page.evaluate(
        '() => document.querySelector("audio#recording").play().then(() => "playing")'
    )
    assert played == "playing"
    page.wait_for_function(
        """() => {
            const audio = document.querySelector("audio#recording");
            return audio.readyState >= 1 && Number.isFinite(audio.duration) && audio.duration > 0;
        }"""
    )
    duration = page.evaluate('() => document.querySelector("audio#recording").duration')
    assert duration == pytest.approx(RECORDING_SECONDS, abs=0.1)
    [event] = AuditEvent.objects.filter(action=AuditEvent.Action.RECORDING_PLAYED)
    assert (event.username, event.target) == ("agent", f"call {call.call_id}")


# --- the admin ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("person", "username"), [("staff_user", "agent"), ("manager", "manager")])
def test_the_admin_refuses_collections_staff_and_managers(page, request, person, username):
    request.getfixturevalue(person)

    sign_in(page, username, then=reverse("admin:index"))

    expect(page.get_by_text("not authorized to access this page")).to_be_visible()
    expect(page.get_by_text("Blu accounts")).to_have_count(0)


def test_an_admin_opens_the_admin_and_sees_blu_accounts(page, admin_user):
    sign_in(page, "boss", then=reverse("admin:index"))

    expect(page.get_by_role("link", name="Blu accounts")).to_be_visible()


# --- manage.py screenshots ---------------------------------------------------------------------


def test_screenshots_saves_a_full_width_png_of_every_page(synced_calls, tmp_path):
    call_command("screenshots", "--out", str(tmp_path), stdout=StringIO())

    pages = sorted(path.name for path in tmp_path.iterdir())
    assert pages == [
        "01-login.png",
        "02-overview.png",
        "03-tasks.png",
        "04-task.png",
        "05-calls.png",
        "06-call.png",
        "07-conclusions.png",
        "08-health.png",
        "09-admin.png",
        "10-account.png",
        "11-audit.png",
        "12-no-access.png",
    ]
    for name in pages:
        png = (tmp_path / name).read_bytes()
        width, height = struct.unpack(">II", png[16:24])  # the PNG header's IHDR chunk
        assert png.startswith(b"\x89PNG") and width == 1440 and height >= 900
    # The people it signed in as are gone again.
    assert not get_user_model().objects.filter(username__startswith="screenshots").exists()


def test_screenshots_asks_for_the_demo_when_there_are_no_calls(tmp_path):
    with pytest.raises(CommandError, match="run `make demo` first"):
        call_command("screenshots", "--out", str(tmp_path))

    assert not any(tmp_path.iterdir())
