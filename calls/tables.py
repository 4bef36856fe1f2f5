"""django-tables2 tables: one per presentation."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from .models import CallRecord, StatusLabel, Task


def talk_time(seconds: float | int | None) -> str:
    if seconds is None:
        return "—"
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class TaskTable(tables.Table):
    blu_task_id = tables.Column("Task", linkify=True)
    account = tables.Column(accessor="account__name", verbose_name="Account")
    calls_total = tables.Column("Calls", attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    calls_final = tables.Column("Finished", attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    outcomes = tables.Column("Outcomes", accessor="code_counts", orderable=False)
    average_talk = tables.Column(
        "Avg talk", accessor="talk_seconds", attrs={"td": {"class": "num"}, "th": {"class": "num"}}
    )
    last_sync_at = tables.DateTimeColumn(verbose_name="Last sync", format="Y-m-d H:i")
    status = tables.Column("Sync", accessor="last_sync_ok", orderable=False)

    class Meta:
        model = Task
        fields = ["blu_task_id", "name", "account", "calls_total", "calls_final"]
        sequence = [
            "blu_task_id",
            "name",
            "account",
            "calls_total",
            "calls_final",
            "outcomes",
            "average_talk",
            "last_sync_at",
            "status",
        ]
        attrs = {"class": "table"}
        empty_text = (
            "No tasks yet: add one with `python manage.py blu task add TASK_ID --account NAME`."
        )

    def render_outcomes(self, value: dict) -> str:
        top = sorted(value.items(), key=lambda item: (-item[1], item[0]))[:4]
        return format_html_join(" ", '<span class="code">{} {}</span>', top)

    def render_average_talk(self, record: Task) -> str:
        return talk_time(record.average_talk_seconds)

    def render_status(self, record: Task) -> str:
        if record.last_sync_ok is None:
            return "not yet"
        if record.last_sync_ok:
            return mark_safe('<span class="ok">ok</span>')
        return format_html('<span class="failed" title="{}">failed</span>', record.last_error)


class CallTable(tables.Table):
    call_id = tables.Column("Call")
    task = tables.Column(
        "Task",
        accessor="task__blu_task_id",
        linkify=lambda record: reverse("calls:task_detail", kwargs={"pk": record.task_id}),
    )
    start_time = tables.DateTimeColumn(verbose_name="Started", format="Y-m-d H:i:s")
    duration = tables.Column("Talk", attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    record_url = tables.Column("Recording", orderable=False)

    class Meta:
        model = CallRecord
        fields = [
            "call_id",
            "task",
            "start_time",
            "name",
            "phone",
            "status",
            "code",
            "desc",
            "duration",
            "record_url",
        ]
        attrs = {"class": "table"}
        empty_text = "No calls yet."

    def render_status(self, value: int) -> str:
        # Unlabelled values show as themselves; the labels are read once per table.
        if not hasattr(self, "_status_labels"):
            self._status_labels = dict(StatusLabel.objects.values_list("value", "label"))
        return self._status_labels.get(value, str(value))

    def render_duration(self, value: int | None) -> str:
        return talk_time(value)

    def value_duration(self, value: int | None) -> int | None:
        return value

    def render_record_url(self, value: str) -> str:
        # Callbacks are unsigned: only an http(s) link is ever made a link.
        if not value.lower().startswith(("https://", "http://")):
            return "—"
        return format_html('<a href="{}" rel="noreferrer">listen</a>', value)
