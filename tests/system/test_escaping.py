"""Text from Blu arrives through unsigned callbacks and Blu's own answers: on every page it must
read as text, never run as markup. Autoescaping does this today; these tests keep it so."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from calls.ingest import borrower_backfill, summaries
from calls.models import CallRecord, Conclusion, Task
from tests.helpers import DASHBOARD_PAGES, dashboard_url, post_callback

HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


@pytest.fixture
def hostile_world(account):
    task = Task.objects.create(
        account=account,
        blu_task_id="h1",
        name=f"Task {HOSTILE}",
        last_sync_at=timezone.now(),
        last_sync_ok=False,
        last_error=f"Blu said {HOSTILE}",
    )
    code = "X<svg onload=alert(3)>"
    Conclusion.objects.create(code=code, label=f"Label {HOSTILE}", classified=False)
    now = timezone.now()
    call = CallRecord.objects.create(
        account=account,
        task=task,
        call_id="h-call",
        name=f"Name {HOSTILE}",
        phone=f"0700***{HOSTILE}",
        code=code,
        desc=f"Desc {HOSTILE}",
        status=2,
        start_time=now,
        answer_time=now,
        end_time=now,
        duration=12,
        ext_vars={"note": HOSTILE, "uniqueId": f"B{HOSTILE}", "orderId": HOSTILE},
        script=[{"role": "person", "text": HOSTILE, "time": "2024-01-01 10:00:00"}],
        slots={"paymentTime": None, "other": HOSTILE},
        raw={"callId": "h-call", "name": HOSTILE},
        content_hash="h",
    )
    summaries.refresh_task_summary(task)
    borrower_backfill.backfill(account)
    call.refresh_from_db()
    return {"task": task, "call": call}


@pytest.mark.parametrize(
    "name", [page for page in DASHBOARD_PAGES if page != "calls:call_recording"]
)
@pytest.mark.parametrize("person", ["staff_user", "admin_user"])
def test_hostile_text_from_blu_is_shown_as_text_on_every_page(
    client, request, hostile_world, name, person
):
    client.force_login(request.getfixturevalue(person))
    url = dashboard_url(name, hostile_world["task"], hostile_world["call"])

    page = client.get(url, {"started_after": ""}).content.decode()

    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page and "<svg onload" not in page
    if name in (
        "calls:task_list",
        "calls:task_detail",
        "calls:call_list",
        "calls:call_detail",
        "calls:borrower_list",
        "calls:borrower_detail",
    ):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text


# Markup, an attribute break-out and template syntax: a page that rendered any of it, or ran
# the template tags, would show something other than this text.
FROM_CALLBACK = '<script>alert(1)</script>"><img src=x onerror=alert(2)>{{ 7|add:1 }}{% now "Y" %}'
SHOWN = (
    "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"
    "{{ 7|add:1 }}{% now &quot;Y&quot; %}"
)
HOSTILE_CODE = "<script>alert(1)</script>"


@pytest.fixture
def delivered_by_callback(client, account):
    """A call whose every text field came in a callback, as anyone holding the token can send."""
    record = {
        "callId": "cb-1",
        "name": FROM_CALLBACK,
        "desc": FROM_CALLBACK,
        "phone": FROM_CALLBACK,
        "code": HOSTILE_CODE,
        "extVars": json.dumps({"note": FROM_CALLBACK}),
        "status": 2,
        "startTime": f"{timezone.localtime(timezone=account.zone):%Y-%m-%d %H:%M:%S}",
        "endTime": f"{timezone.localtime(timezone=account.zone):%Y-%m-%d %H:%M:%S}",
        "duration": 12,
    }
    assert (
        post_callback(client, account, {"taskId": "cb-task", "records": [record]}).status_code
        == 200
    )
    call = CallRecord.objects.get(call_id="cb-1")
    summaries.refresh_task_summary(call.task)  # as the sync the new task is queued for does
    return call


@pytest.mark.parametrize(
    ("name", "shows_text"),
    [
        ("calls:call_list", True),
        ("calls:call_detail", True),
        ("calls:task_detail", True),
        ("calls:conclusions", True),  # the code, labelled with the desc it was learned with
        ("calls:overview", False),  # counts and categories only
    ],
)
@pytest.mark.parametrize("person", ["staff_user", "admin_user"])
def test_hostile_text_from_a_callback_is_shown_as_text(
    client, request, delivered_by_callback, name, shows_text, person
):
    call = delivered_by_callback
    client.force_login(request.getfixturevalue(person))

    response = client.get(dashboard_url(name, call.task, call))

    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    if shows_text:
        assert SHOWN in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.replace(SHOWN, "")  # the code
    else:
        assert 'data-kpi="placed">1<' in page  # the call is counted all the same
