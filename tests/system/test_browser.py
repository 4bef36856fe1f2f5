"""In a real browser: signing in, filtering, sorting and exporting calls, playing a recording, and
whom the admin lets in; and `manage.py screenshots`. Playwright drives Debian's headless Chromium
against the app served by pytest-django's live_server; Blu is the sandbox over HTTP, recordings
included.
"""

from __future__ import annotations

import csv
import json
import re
import struct
from datetime import timedelta
from io import StringIO

import pytest
import requests
from celery.contrib.testing.worker import start_worker
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import BrowserContext, Page, expect

from bludash.celery import app
from calls.ingest import sync
from calls.models import AuditEvent, Borrower, CallLimitBreach, CallRecord, ExportJob, Task
from tests.helpers import (
    APP_ID,
    APP_KEY,
    BLU_EXAMPLE,
    IN_A_BROWSER,
    ZONE,
    add_account,
    browser_sign_in,
    callback_path,
)

# The sandbox's recording is two seconds of tones (calls/blu/sandbox/audio.py).
RECORDING_SECONDS = 2.0

pytestmark = IN_A_BROWSER


@pytest.fixture
def page(browser_context: BrowserContext) -> Page:
    return browser_context.new_page()


@pytest.fixture
def synced_calls(synced) -> list[CallRecord]:
    """Thirty ended calls (one page of the calls table), with a mix of codes and recordings."""
    return list(synced.calls.all())


def column(page: Page, header: str) -> list[str]:
    """The text of every body cell under the calls table's column headed `header`, without the
    badges of contact limits broken that sit beside a call's code."""
    return page.evaluate(
        """(header) => {
            const table = document.querySelector("table.calls-table");
            const heads = [...table.querySelectorAll("thead th")];
            const index = heads.findIndex((th) => th.textContent.trim() === header);
            if (index < 0) throw new Error(`no column headed ${header}`);
            return [...table.querySelectorAll("tbody tr")].map(
                (row) => {
                    const cell = row.cells[index].cloneNode(true);
                    cell.querySelectorAll(".limit-broken").forEach((badge) => badge.remove());
                    return cell.textContent.trim();
                }
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
    browser_sign_in(page, "manager")

    expect(page.locator(".who")).to_have_text("manager")
    expect(page).to_have_url(live_server.url + reverse("calls:overview"))
    expect(page.locator("main h1")).to_be_visible()


def test_the_overview_shows_a_failing_sync_without_a_reload(
    page, settings, staff_user, synced_calls
):
    settings.BLUDASH_LIVE_REFRESH_SECONDS = 1
    browser_sign_in(page, "agent")
    expect(page.locator("#sync-health")).to_contain_text("0 tasks")
    page.evaluate("window.notReloaded = true")

    Task.objects.update(last_sync_ok=False, last_error="Blu answered 4004: sign error")

    # The script refreshes every 5 s at the most often (static/js/bludash.js).
    expect(page.locator("#sync-health")).to_contain_text("sign error", timeout=15_000)
    assert page.evaluate("window.notReloaded") is True


def test_a_wrong_password_is_refused_on_the_form(page, manager):
    browser_sign_in(page, "manager", password="not-the-password")

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
    browser_sign_in(page, "manager", then=reverse("calls:call_list"))

    checkbox = page.locator(f'#call-filters input[type="checkbox"][name="code"][value="{code}"]')
    checkbox.check()
    page.get_by_role("button", name="Apply filters").click()

    page.wait_for_url(re.compile(f"[?&]code={code}(&|$)"))
    expected = sum(call.code == code for call in synced_calls)
    expect(page.locator("table.calls-table tbody tr")).to_have_count(expected)
    assert set(column(page, "Code")) == {code}
    expect(checkbox).to_be_checked()


def test_a_manager_sorts_calls_by_code_both_ways(page, manager, synced_calls):
    browser_sign_in(page, "manager", then=reverse("calls:call_list") + "?started_after=")
    header = page.locator("table.calls-table thead th.orderable a", has_text="Code")

    header.click()
    page.wait_for_url(re.compile("[?&]sort=code(&|$)"))  # and for the sorted page to load
    assert column(page, "Code") == codes_in_database_order()

    header.click()
    page.wait_for_url(re.compile("[?&]sort=-code(&|$)"))
    assert column(page, "Code") == codes_in_database_order(descending=True)


def test_a_manager_exports_the_filtered_calls_as_csv(page, manager, synced_calls):
    code = a_code_some_calls_have(synced_calls)
    browser_sign_in(
        page, "manager", then=reverse("calls:call_list") + f"?started_after=&code={code}"
    )

    with page.expect_download() as download_info:
        page.locator("a#export-csv").click()

    with open(download_info.value.path(), newline="", encoding="utf-8-sig") as exported:
        rows = list(csv.reader(exported))
    header, body = rows[0], rows[1:]
    expected = {call.call_id for call in synced_calls if call.code == code}
    assert len(body) == len(expected)
    assert {row[header.index("Call")] for row in body} == expected
    assert {row[header.index("Code")] for row in body} == {code}


def test_a_manager_watches_an_xlsx_export_finish_without_a_reload_and_downloads_it(
    page, manager, synced_calls
):
    app.control.purge()
    browser_sign_in(page, "manager", then=reverse("calls:call_list") + "?started_after=")
    page.locator("a#export-xlsx").click()

    page.wait_for_url(re.compile(r"/exports/\d+/$"))
    job = page.locator("#export-job")
    # No worker yet: the job waits, and the page says so.
    expect(job).to_have_attribute("data-state", "queued")
    expect(page.locator("#export-download")).to_be_hidden()
    page.evaluate("window.stillThisPage = true")  # a reload would lose it

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        expect(job).to_have_attribute("data-state", "done", timeout=30_000)

    assert page.evaluate("window.stillThisPage") is True
    bar = page.locator("progress#export-progress")
    total = len(synced_calls)
    assert bar.evaluate("(bar) => [bar.value, bar.max]") == [total, total]
    expect(page.locator("#export-figures")).to_have_text(f"{total} of {total} rows written")
    with page.expect_download() as download_info:
        page.locator("a#export-download-link").click()
    download = download_info.value
    assert re.fullmatch(r"bludash-calls-\d{8}-\d{4}\.xlsx", download.suggested_filename)
    with open(download.path(), "rb") as file:  # saved without its name's suffix
        book = load_workbook(file, read_only=True)
        rows = list(book.active.iter_rows(values_only=True))
        book.close()
    assert {row[0] for row in rows[1:]} == {call.call_id for call in synced_calls}
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT_DOWNLOADED).count() == 1


# --- a call and its recording ------------------------------------------------------------------


def test_a_call_page_plays_its_recording_and_only_playing_it_is_audited(
    page, live_server, staff_user, synced_calls
):
    call = next(call for call in synced_calls if call.record_url)
    browser_sign_in(page, "agent", then=reverse("calls:call_list") + "?started_after=")

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


# --- borrowers ---------------------------------------------------------------------------------


def test_staff_search_a_borrower_open_their_calls_across_tasks_and_play_a_recording(
    page, live_server, staff_user, make_task
):
    for task_id, minutes_ago in (("66547748", 3000), ("66547749", 120)):
        sync.sync_task(make_task(task_id, calls=30, minutes_ago=minutes_ago, borrowers=4))
    # A borrower called in both tasks, one of whose calls has a recording.
    borrower = next(
        b
        for b in Borrower.objects.filter(key_source="uniqueId").order_by("key")
        if b.calls.values("task").distinct().count() == 2 and b.calls.exclude(record_url="")
    )
    browser_sign_in(page, "agent", then=reverse("calls:borrower_list"))

    page.get_by_role("searchbox").fill(borrower.key)
    page.get_by_role("button", name="Search").click()
    page.locator("table.borrowers-table").get_by_role("link", name=borrower.key).click()

    expect(page).to_have_url(
        live_server.url + reverse("calls:borrower_detail", kwargs={"key": borrower.key})
    )
    rows = page.locator("#borrower-calls tbody tr")
    expect(rows).to_have_count(borrower.calls.count())
    expect(page.locator("#borrower-calls")).to_contain_text("66547748")
    expect(page.locator("#borrower-calls")).to_contain_text("66547749")
    played = page.evaluate(
        '() => document.querySelector("audio.recording").play().then(() => "playing")'
    )
    assert played == "playing"
    page.wait_for_function(
        """() => {
            const audio = document.querySelector("audio.recording");
            return audio.readyState >= 1 && Number.isFinite(audio.duration) && audio.duration > 0;
        }"""
    )
    duration = page.evaluate('() => document.querySelector("audio.recording").duration')
    assert duration == pytest.approx(RECORDING_SECONDS, abs=0.1)
    [event] = AuditEvent.objects.filter(action=AuditEvent.Action.RECORDING_PLAYED)
    assert event.username == "agent"


def test_a_borrowers_calls_fit_the_screenshots_window_with_every_limit_and_the_recording(
    page, live_server, staff_user, make_task
):
    """A column of its own for the limits once pushed the recordings past a 1440-pixel window's
    edge; they sit in the code's cell now, and a narrower window scrolls the table in a region
    the keyboard can focus."""
    for task_id, minutes_ago in (("66547748", 3000), ("66547749", 120)):
        sync.sync_task(make_task(task_id, calls=30, minutes_ago=minutes_ago, borrowers=4))
    borrower = next(
        b
        for b in Borrower.objects.order_by("key")
        if b.calls.values("task").distinct().count() == 2 and b.calls.exclude(record_url="")
    )
    for call in borrower.calls.all():  # every rule broken: the widest the cell gets
        CallLimitBreach.objects.update_or_create(
            call=call, defaults={"too_many": True, "in_hold_off": True, "outside_hours": True}
        )
    page.set_viewport_size({"width": 1440, "height": 900})
    browser_sign_in(page, "agent", then=borrower.get_absolute_url())

    table = page.locator("#borrower-calls")
    expect(table.locator("audio.recording").first).to_be_visible()
    expect(table).to_contain_text("over 7-day limit")
    past_the_edge = page.evaluate(
        """() => {
            const region = document.querySelector("#borrower-calls").parentElement;
            const edge = region.getBoundingClientRect().right;
            return [...document.querySelectorAll("#borrower-calls th, #borrower-calls td")]
                .filter((cell) => cell.getBoundingClientRect().right > edge + 0.5)
                .map((cell) => cell.textContent.trim() || cell.innerHTML.slice(0, 40));
        }"""
    )
    assert past_the_edge == []
    assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")

    page.set_viewport_size({"width": 900, "height": 900})
    region = page.get_by_role("region", name="Calls newest first, across tasks and accounts")
    scroller = '() => document.querySelector("#borrower-calls").parentElement'
    assert page.evaluate(f"() => ({scroller})().scrollWidth > ({scroller})().clientWidth")
    region.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => ({scroller})().scrollLeft > 0")  # scrolled by the keyboard


# --- the admin ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("person", "username"), [("staff_user", "agent"), ("manager", "manager")])
def test_the_admin_refuses_collections_staff_and_managers(page, request, person, username):
    request.getfixturevalue(person)

    browser_sign_in(page, username, then=reverse("admin:index"))

    expect(page.get_by_text("not authorized to access this page")).to_be_visible()
    expect(page.get_by_text("Blu accounts")).to_have_count(0)


def test_an_admin_opens_the_admin_and_sees_blu_accounts(page, admin_user):
    browser_sign_in(page, "boss", then=reverse("admin:index"))

    expect(page.get_by_role("link", name="Blu accounts")).to_be_visible()


# --- manage.py screenshots ---------------------------------------------------------------------


def test_screenshots_saves_a_full_width_png_of_every_page(synced_calls, tmp_path, export_files):
    call_command("screenshots", "--out", str(tmp_path), stdout=StringIO())

    pages = sorted(path.name for path in tmp_path.iterdir())
    assert pages == [
        "01-login.png",
        "02-overview.png",
        "03-tasks.png",
        "04-tasks-register.png",
        "05-task.png",
        "06-calls.png",
        "07-export.png",
        "08-call.png",
        "09-borrowers.png",
        "10-borrower.png",
        "11-promises.png",
        "12-promises-broken.png",
        "13-promises-kept.png",
        "14-repayments-upload.png",
        "15-stop-list.png",
        "16-complaints.png",
        "17-complaint.png",
        "18-review.png",
        "19-review-call.png",
        "20-review-accuracy.png",
        "21-conclusions.png",
        "22-health.png",
        "23-admin.png",
        "24-account.png",
        "25-audit.png",
        "26-when-calls-work.png",
        "27-no-access.png",
    ]
    for name in pages:
        png = (tmp_path / name).read_bytes()
        width, height = struct.unpack(">II", png[16:24])  # the PNG header's IHDR chunk
        assert png.startswith(b"\x89PNG") and width == 1440 and height >= 900
    # The people it signed in as are gone again, and the export it showed with its file.
    assert not get_user_model().objects.filter(username__startswith="screenshots").exists()
    assert not ExportJob.objects.exists() and not any(export_files.iterdir())


def test_screenshots_of_the_demo_go_on_when_a_task_fails_to_sync_and_name_it(
    sandbox, settings, tmp_path
):
    # The demo as `manage.py demo` leaves it, on the test's sandbox (already running, so the
    # command uses it rather than starting its own), with one task Blu refuses.
    settings.VAR_DIR = tmp_path
    settings.BLUDASH_SANDBOX_ENABLED = True
    world = {"accounts": [{"appId": APP_ID, "appKey": APP_KEY, "timeZone": ZONE}], "tasks": []}
    (tmp_path / "demo-world.json").write_text(json.dumps(world))
    demo = add_account("demo", APP_KEY, base_url=sandbox.url, app_id=APP_ID, time_zone=ZONE)
    for task_id in ("66547001", "66547002"):
        started = sandbox.now() - timedelta(hours=2)
        sandbox.add_task(app_id=APP_ID, task_id=task_id, calls=5, started_at=started)
        Task.objects.create(account=demo, blu_task_id=task_id)
    sandbox.inject("code", task_id="66547002", times=None, code=4100, message="task locked")
    out = StringIO()

    with pytest.raises(CommandError) as caught:
        call_command(
            "screenshots", "--out", str(tmp_path / "shots"), "--sync-demo", stdout=out, stderr=out
        )

    # Every page, all the same; no complaint in this world, so no complaint's page (a drawn
    # call to review there is).
    assert len(list((tmp_path / "shots").glob("*.png"))) == 26
    assert "1 of 2 tasks failed to sync: demo/66547002" in str(caught.value)
    assert "demo/66547002: failed: " in out.getvalue() and "task locked" in out.getvalue()
    assert "Ctrl-C" not in out.getvalue()


def test_screenshots_asks_for_the_demo_when_there_are_no_calls(tmp_path):
    with pytest.raises(CommandError, match="run `make demo` first"):
        call_command("screenshots", "--out", str(tmp_path))

    assert not any(tmp_path.iterdir())


def test_a_callbacks_call_shows_on_the_open_overview_and_task_page_without_a_reload(
    page, settings, live_server, staff_user, synced
):
    settings.BLUDASH_LIVE_REFRESH_SECONDS = 1
    now = timezone.localtime(timezone.now(), synced.account.zone).strftime("%Y-%m-%d %H:%M:%S")
    call = {**BLU_EXAMPLE, "taskId": synced.blu_task_id, "callId": "pushed-1"}
    call.update(startTime=now, answerTime=now, endTime=now, duration=0)
    browser_sign_in(page, "agent")
    # Today's column: the synced calls are in it unless the day began since (they started
    # within the last two hours), so the test counts from whatever it shows.
    today_placed = page.locator('[data-kpi="placed"]').first
    before = int(today_placed.inner_text().replace(",", ""))
    task_page = page.context.new_page()
    task_page.goto(live_server.url + reverse("calls:task_detail", args=[synced.pk]))
    placed_on_task = task_page.locator("#task-numbers dd.num").first
    expect(placed_on_task).to_have_text("30")
    for each in (page, task_page):
        each.evaluate("window.notReloaded = true")

    # Blu pushes the call over HTTP, as it would: no poll runs after it.
    response = requests.post(
        live_server.url + callback_path(synced.account.callback_token),
        json={"taskId": synced.blu_task_id, "records": [call]},
        timeout=10,
    )
    assert response.status_code == 200

    # The script refreshes every 5 s at the most often (static/js/bludash.js).
    expect(today_placed).to_have_text(str(before + 1), timeout=15_000)
    expect(placed_on_task).to_have_text("31", timeout=15_000)
    assert page.evaluate("window.notReloaded") is True
    assert task_page.evaluate("window.notReloaded") is True


def test_a_manager_uploads_repayments_with_one_bad_row_and_reads_the_error_report(
    page, manager, synced_calls, tmp_path
):
    from calls.models import Repayment

    borrower = Borrower.objects.order_by("pk").first()
    assert borrower is not None
    file = tmp_path / "payments.csv"
    file.write_text(
        "borrower,amount,paid_at,reference\n"
        f"{borrower.key},1500,2024-01-02 10:00:00,R-1\n"
        f"{borrower.key},fifteen,2024-01-02 10:00:00,R-2\n"
        f"{borrower.key},250.50,2024-01-03 11:00:00,R-3\n"
    )
    browser_sign_in(page, "manager", then=reverse("calls:promise_list"))
    page.locator("#upload-repayments").click()
    page.locator('input[name="file"]').set_input_files(str(file))
    page.locator("#preview-upload").click()

    report = page.locator("#upload-errors")
    expect(report).to_contain_text("Nothing was saved: 1 bad row")
    rows = page.locator("#row-errors tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("3")
    expect(rows.first).to_contain_text("amount 'fifteen' is not a number")
    expect(page.locator("#confirm-import")).to_have_count(0)
    assert not Repayment.objects.exists()

    # Corrected, the file is previewed, then saved once confirmed.
    file.write_text(file.read_text().replace("fifteen", "15"))
    page.locator('input[name="file"]').set_input_files(str(file))
    page.locator("#preview-upload").click()
    expect(page.locator("#preview-rows tbody tr")).to_have_count(3)
    assert not Repayment.objects.exists()
    page.locator("#confirm-import").click()
    expect(page.locator("body")).to_contain_text("3 repayments imported to collections")
    assert Repayment.objects.count() == 3
