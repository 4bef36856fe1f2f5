"""The calls and tasks tables' rows drawn in one pass (calls/dashboard/table_rows.py) are the HTML
django-tables2's own template draws, byte for byte, whatever the cells hold: links, no
borrower, no answer, a recording, a status label, contact limits broken, text to escape."""

from __future__ import annotations

from datetime import timedelta

from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone

from calls.dashboard import summary_queries
from calls.dashboard.tables import CallTable, TaskTable
from calls.models import Borrower, CallLimitBreach, CallRecord, Conclusion, StatusLabel, Task
from tests.helpers import make_call


def _tbody(table: CallTable, template: str) -> str:
    request = RequestFactory().get("/calls/")
    table.template_name = template
    page = render_to_string(template, {"table": table, "request": request})
    return page.split("<tbody", 1)[1].split("</tbody>", 1)[0]


def test_the_rows_drawn_in_python_are_the_templates_own(make_task):
    task = make_task("7001", calls=0)
    now = timezone.now()
    borrower = Borrower.objects.create(account=task.account, key="U<1>&", name="x")
    StatusLabel.objects.update_or_create(value=2, defaults={"label": "Ended <ok>"})
    make_call(
        task,
        "c1",
        now,
        name="Ana & <b>",
        code="PTP",
        desc="Promise",
        borrower=borrower,
        answer_time=now,
        duration=75,
        record_url="https://blu.example/r/1.mp3",
    )
    make_call(task, "c2", now - timedelta(minutes=1), name="", phone="0749***6372", status=7)
    breaking = make_call(task, "c3", now - timedelta(minutes=2), answer_time=now, duration=0)
    CallLimitBreach.objects.create(call=breaking, too_many=True, outside_hours=True)

    for exclude in [(), ("task", "account")]:
        rows = CallRecord.objects.order_by("-start_time")
        quick = _tbody(CallTable(rows, exclude=exclude), "calls/_calls_table.html")
        own = _tbody(CallTable(rows, exclude=exclude), "django_tables2/table.html")
        assert quick == own
        assert quick.count("<tr") == 3 and "Ana &amp; &lt;b&gt;" in quick and "listen" in quick


def test_the_tasks_rows_drawn_in_python_are_the_templates_own(make_task):
    make_task("7001", calls=0)
    named = make_task("7002", calls=5)
    Task.objects.filter(pk=named.pk).update(name="Tom & <Jerry>")
    tasks = summary_queries.with_rates(Task.objects.select_related("account").order_by("pk"))
    conclusions = Conclusion.by_code()
    quick = _tbody(TaskTable(tasks, conclusions=conclusions), "calls/_tasks_table.html")
    own = _tbody(TaskTable(tasks, conclusions=conclusions), "django_tables2/table.html")
    assert quick == own
    assert quick.count("<tr") == 2 and "Tom &amp; &lt;Jerry&gt;" in quick
