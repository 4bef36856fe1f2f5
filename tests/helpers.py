"""What the tests share besides fixtures (those are in conftest.py): the names of the sandbox world,
rows written directly where the sandbox would not make them, syncs made to fail, Blu's callback,
readers of pages, signing in, waiting, and what the browser tests need.

Imported as `from tests.helpers import ...` from every test module, wherever it lives.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from calls.blu.client import BluError
from calls.ingest import sync
from calls.models import AuditEvent, BluAccount, CallRecord, Task

# --- the sandbox world (conftest.py's fixtures build it) ---------------------------------------

APP_ID = "10001"
APP_KEY = "sandbox-app-key-7f3a9c"  # a sandbox key, not a secret of anything real
ZONE = "Asia/Colombo"
PASSWORD = "a-long-pass-phrase-for-tests"  # every person conftest.py makes signs in with it
WRONG_PASSWORD = "a-wrong-guess-9c1f"
SANDBOX_PAGE = 7  # the sandbox fixture's largest page (max_page_size), below BLUDASH_PAGE_SIZE
WRONG_KEY = "not-the-key-blu-knows"  # an app key the sandbox refuses: "sign error"
# An app key whose random middle is looked for wherever a key must never be, so that a key cut
# short is found too.
CANARY_SECRET = secrets.token_hex(8)
CANARY_KEY = f"review-canary-key-{CANARY_SECRET}-end"

# Blu's own example record from the contract (queryCallResult), one missing comma fixed.
BLU_EXAMPLE = {
    "taskId": 66547748,
    "callId": 123654,
    "jobId": 890100048,
    "userId": 1208048,
    "phone": "0159***0188",
    "recordUrl": "https://bluapi.shanghu.ai/download/v1/getDownloadUrl/FCAGKR4SUAFP2MMOZA3JVENTL4XCO5GTIJ4YSKX=",
    "name": "Anoji Mohoo",
    "status": 2,
    "code": "PTP",
    "desc": "Promised to payback",
    "strategyId": 2,
    "botId": 123,
    "startTime": "2024-01-01 13:00:00",
    "answerTime": "2024-01-01 13:00:10",
    "endTime": "2024-01-01 13:00:50",
    "duration": 40,
    "extVars": "{}",
}

# A recording link on Blu's download host, which the bare_task fixture allows; its token is a
# bearer secret that must never be shown or logged.
FAKE_BLU = "https://blu.example/download/v1/getDownloadUrl/SECRETTOKEN="


# --- waiting -------------------------------------------------------------------------------------


def wait_for(condition: Callable[[], object], seconds: float = 30.0, step: float = 0.05) -> bool:
    """Whether `condition` became true before the deadline (checked every `step` seconds)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on (until someone is told to)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_and_join(threads: Iterable[threading.Thread], seconds: float = 30) -> None:
    """Start every thread, then wait for each (at most `seconds`): callers check is_alive()."""
    threads = list(threads)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds)


# --- accounts ------------------------------------------------------------------------------------


def add_account(
    name: str,
    app_key: str = APP_KEY,
    *,
    base_url: str = "https://blu.example.test",
    app_id: str = "",
    **fields: Any,
) -> BluAccount:
    """A Blu account saved with its app key encrypted, as the admin and `manage.py blu` save it.
    Its appId is its name unless given: one Blu account cannot be registered twice."""
    account = BluAccount(name=name, base_url=base_url, app_id=app_id or name, **fields)
    account.set_app_key(app_key)
    account.save()
    return account


def account_without_blu(name: str = "plain", app_id: str = "") -> BluAccount:
    """An account with no Blu behind it (nor a key that opens), for tasks and calls written
    directly. Its appId is its name unless given."""
    return BluAccount.objects.create(
        name=name, base_url="http://127.0.0.1:9", app_id=app_id or name, app_key_encrypted="-"
    )


# --- calls written directly ----------------------------------------------------------------------


def make_call(
    task: Task, call_id: str = "c1", start_time: datetime | None = None, **fields: Any
) -> CallRecord:
    """A call written directly, for times and values the sandbox would not produce: it started
    now and has finished (status 2) unless told otherwise."""
    fields.setdefault("status", 2)
    fields.setdefault("raw", {"callId": call_id})
    fields.setdefault("content_hash", "x")
    return CallRecord.objects.create(
        account=task.account,
        task=task,
        call_id=call_id,
        start_time=start_time or timezone.now(),
        **fields,
    )


def make_calls(task: Task, count: int, **fields: Any) -> list[CallRecord]:
    """`count` calls c000, c001, ...: call n started n minutes ago and talked n seconds."""
    now = timezone.now()
    return [
        make_call(task, f"c{n:03d}", now - timedelta(minutes=n), duration=n, **fields)
        for n in range(count)
    ]


# --- syncs ---------------------------------------------------------------------------------------


def stored_call_ids(task: Task) -> list[str]:
    """The call ids stored for `task`, sorted, duplicates kept."""
    return sorted(CallRecord.objects.filter(task=task).values_list("call_id", flat=True))


def blu_call_ids(sandbox, task: Task, pages: int | None = None) -> list[str]:
    """The call ids the sandbox holds for `task`, sorted; with `pages`, those of its first pages."""
    records = sandbox.records(task.blu_task_id)
    if pages is not None:
        records = records[: pages * SANDBOX_PAGE]
    return sorted(str(record["callId"]) for record in records)


def fail_syncs(sandbox, task: Task, times: int = 1, message: str = "internal error") -> None:
    """Sync `task` `times` times while Blu answers its every page with an error code."""
    sandbox.inject("code", task_id=task.blu_task_id, times=None, message=message)
    for _ in range(times):
        with pytest.raises(BluError, match=message):
            sync.sync_task(task)
    sandbox.clear_faults()


@contextmanager
def alert_jobs_run_here() -> Iterator[None]:
    """Run the jobs that code queues once its transaction commits (the admins' failure email) in
    this process, as a worker would, when the block ends."""
    from bludash.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        with TestCase.captureOnCommitCallbacks(execute=True):
            yield
    finally:
        app.conf.task_always_eager = eager


def fail_on_a_wrong_key(task: Task, times: int = 1) -> None:
    """Give `task`'s account an app key Blu does not know, then sync it `times` times: each sync
    fails with Blu's "sign error"."""
    account = task.account
    account.set_app_key(WRONG_KEY)
    account.save()
    for _ in range(times):
        with pytest.raises(BluError, match="sign error"):
            sync.sync_task(task)


# --- Blu's callback ------------------------------------------------------------------------------


def callback_path(token: str) -> str:
    return reverse("calls:blu_callback", kwargs={"token": token})


def callback_body(record: dict[str, Any]) -> bytes:
    """The body Blu POSTs for one record: its task and the record, one in a list."""
    return json.dumps({"taskId": record["taskId"], "records": [record]}).encode()


def post_callback(client, account: BluAccount, body: Any, token: str | None = None):
    """POST `body` (bytes or text as they are, anything else as JSON) to the account's callback
    URL, or to the one of `token`."""
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    url = callback_path(token or account.callback_token)
    return client.post(url, data=data, content_type="application/json")


# --- pages ---------------------------------------------------------------------------------------

# Every page of the dashboard by URL name (the admin's are Django's).
DASHBOARD_PAGES = [
    "calls:overview",
    "calls:sync_health",
    "calls:when_calls_work",
    "calls:task_list",
    "calls:task_detail",
    "calls:call_list",
    "calls:call_detail",
    "calls:call_recording",
    "calls:conclusions",
    "calls:borrower_list",
    "calls:borrower_detail",
    "calls:promise_list",
    "calls:stop_list",
]


def dashboard_url(name: str, task: Task | None = None, call: CallRecord | None = None) -> str:
    """The URL of the page named `name`: the task's or the call's where the page is of one."""
    if name == "calls:task_detail":
        assert task is not None
        return reverse(name, args=[task.pk])
    if name in ("calls:call_detail", "calls:call_recording"):
        assert call is not None
        return reverse(name, args=[call.pk])
    if name == "calls:borrower_detail":
        assert call is not None and call.borrower is not None
        return call.borrower.get_absolute_url()
    return reverse(name)


def html_text(html: str) -> str:
    """The text of some HTML, tags dropped and white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def row_cells(table: str, attr: str, value: object) -> dict[str, str]:
    """The row carrying data-<attr>="<value>" in `table`, cell text by column header."""
    headers = [html_text(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)]
    found = re.search(rf'<tr[^>]*data-{attr}="{value}"[^>]*>(.*?)</tr>', table, re.S)
    assert found, f"no row with data-{attr}={value}"
    values = [html_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", found[1], re.S)]
    return dict(zip(headers, values, strict=True))


def labelled_section(page: str, heading_id: str) -> str:
    """The inside of the <section> labelled by the heading with id `heading_id`."""
    found = re.search(rf'aria-labelledby="{heading_id}">(.*?)</section>', page, re.S)
    assert found, heading_id
    return found.group(1)


def calls_table_ids(response) -> list[str]:
    """The call ids in the calls table's first column, in the order shown."""
    page = response.content.decode()
    body = page.split('class="table calls-table"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<a href="/calls/\d+/">([^<]+)</a>', body)


# --- signing in ----------------------------------------------------------------------------------


def sign_in(
    client, username: str, password: str, address: str = "198.51.100.7", form: str = "login"
):
    """Sign in through a form (the dashboard's, or "admin:login") from the address `address`."""
    return client.post(
        reverse(form), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def audit_events(action: str) -> list[AuditEvent]:
    """The audit log's events of one action, oldest first."""
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# --- in a real browser ---------------------------------------------------------------------------

# Debian's package, never a browser Playwright downloads: CI installs it in .ci/run.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # play() without a click: the test asks for playback as a script, not as a user gesture.
    "--autoplay-policy=no-user-gesture-required",
]
# The pytestmark of a module of browser tests: marked, skipped without Chromium, and the roles'
# groups back before each test (conftest.py's role_groups).
IN_A_BROWSER = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
    pytest.mark.usefixtures("role_groups"),
]


def browser_sign_in(page, username: str, password: str = PASSWORD, then: str = "") -> None:
    """Signs in through the sign-in form; `then` is where the form sends the person afterwards."""
    page.goto(reverse("login") + (f"?{urlencode({'next': then})}" if then else ""))
    page.locator('input[name="username"]').fill(username)
    page.locator('input[name="password"]').fill(password)
    page.get_by_role("button", name="Sign in").click()


def a_session_waits_on_a_lock() -> bool:
    """Whether another session of this PostgreSQL database is waiting on a lock."""
    from django.db import connection

    with connection.cursor() as cursor:
        # pg_stat_activity is a snapshot kept for the transaction unless cleared.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cursor.fetchone()[0])


# --- exports built in the background -------------------------------------------------------------


def run_background_export(client, params: dict) -> Any:
    """Ask the calls page for an export that becomes a job, run the job here (its plain
    function, as the worker would) and download the file: the download's response."""
    from calls.exports import jobs
    from calls.models import ExportJob

    response = client.get(reverse("calls:call_list"), params)
    assert response.status_code == 302, response.status_code
    job = ExportJob.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))
    assert response["Location"] == reverse("calls:export_job", args=[job.pk])
    jobs.run(job.pk)
    download = client.get(reverse("calls:export_download", args=[job.pk]))
    assert download.status_code == 200, download.status_code
    return download
