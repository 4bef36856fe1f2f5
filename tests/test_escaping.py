"""Text from Blu arrives through unsigned callbacks and Blu's own answers: on every page it must
read as text, never run as markup. Autoescaping does this today; these tests keep it so."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from calls import summaries
from calls.models import CallRecord, Conclusion, Task

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
        ext_vars={"note": HOSTILE},
        script=[{"role": "person", "text": HOSTILE, "time": "2024-01-01 10:00:00"}],
        slots={"paymentTime": None, "other": HOSTILE},
        raw={"callId": "h-call", "name": HOSTILE},
        content_hash="h",
    )
    summaries.refresh_task_summary(task)
    return {"task": task, "call": call}


@pytest.mark.parametrize(
    "name",
    [
        "calls:overview",
        "calls:sync_health",
        "calls:task_list",
        "calls:task_detail",
        "calls:call_list",
        "calls:call_detail",
        "calls:conclusions",
    ],
)
@pytest.mark.parametrize("person", ["staff_user", "admin_user"])
def test_hostile_text_from_blu_is_shown_as_text_on_every_page(
    client, request, hostile_world, name, person
):
    client.force_login(request.getfixturevalue(person))
    args = {
        "calls:task_detail": [hostile_world["task"].pk],
        "calls:call_detail": [hostile_world["call"].pk],
    }.get(name, [])

    page = client.get(reverse(name, args=args), {"started_after": ""}).content.decode()

    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page and "<svg onload" not in page
    if name in ("calls:task_list", "calls:task_detail", "calls:call_list", "calls:call_detail"):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text
