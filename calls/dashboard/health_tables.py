"""The sync-health page's tables (django-tables2): accounts, tasks, and stuck tasks. Their order is
fixed (what needs attention first), so no column sorts."""

from __future__ import annotations

from datetime import datetime, timedelta

import django_tables2 as tables
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from calls.dashboard.formatting import ago
from calls.health import sync_health
from calls.models import Task

_NUM = {"td": {"class": "num"}, "th": {"class": "num"}}
_WRAP = {"td": {"class": "wrap"}}
_NOT_YET = SafeString('<span class="muted">never</span>')


def _when(value: datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def _behind(behind: timedelta | None) -> str:
    """How long since the last success; late (by calls/health/sync_health.py's rule) shows as a
    failure."""
    if behind is None:
        return _NOT_YET
    if sync_health.is_late(behind):
        return format_html('<span class="failed">{}</span>', ago(behind))
    return ago(behind)


def _error(error: str, failing: bool) -> str:
    if not error:
        return "—"
    shown = error[: sync_health.ERROR_SHOWN]
    return format_html(
        '<span class="{}" title="{}">{}</span>', "failed" if failing else "muted", error, shown
    )


def _in_a_row(n: int) -> str:
    if n >= sync_health.alert_threshold():
        return format_html('<strong class="flag">{} in a row</strong>', n)
    if n:
        return format_html('<span class="failed">{}</span>', n)
    return "0"


class AccountHealthTable(tables.Table):
    """Rows are sync_health.AccountHealth."""

    name = tables.Column("Account")
    enabled = tables.Column("Enabled")
    polled_tasks = tables.Column("Polled tasks", attrs=_NUM)
    last_success_at = tables.Column("Last success", empty_values=())
    behind = tables.Column("Behind", empty_values=())
    consecutive_failures = tables.Column("Failures in a row", attrs=_NUM)
    error = tables.Column("Last error", empty_values=(), attrs=_WRAP)

    class Meta:
        orderable = False
        attrs = {"class": "table health-accounts"}
        row_attrs = {
            "data-account": lambda record: record.name,
            "class": lambda record: "flagged" if record.flagged else "",
        }
        empty_text = "No Blu accounts yet: add one in the admin."

    def render_enabled(self, value: bool) -> str:
        return "yes" if value else SafeString('<span class="muted">no (not polled)</span>')

    def render_polled_tasks(self, value: int, record: sync_health.AccountHealth) -> str:
        if record.failing_tasks:
            return format_html(
                '{} <span class="failed">({} failing)</span>', value, record.failing_tasks
            )
        return str(value)

    def render_last_success_at(self, value: datetime | None) -> str:
        return _when(value) if value else _NOT_YET

    def render_behind(self, record: sync_health.AccountHealth) -> str:
        return _behind(record.behind)

    def render_consecutive_failures(self, value: int) -> str:
        return _in_a_row(value)

    def render_error(self, value: str, record: sync_health.AccountHealth) -> str:
        if not value:
            return "—"
        when = f" ({_when(record.last_failure_at)})" if record.last_failure_at else ""
        return format_html("{}{}", _error(value, record.failing), when)


class TaskHealthTable(tables.Table):
    """Polled tasks, failing first, then the stalest (sync_health.task_health_rows)."""

    task = tables.Column(
        "Task", accessor="blu_task_id", linkify=lambda record: record.get_absolute_url()
    )
    name = tables.Column("Name", attrs=_WRAP)
    account = tables.Column("Account", accessor="account__name")
    last_success_at = tables.Column("Last success", empty_values=())
    behind = tables.Column("Behind", accessor="last_success_at", empty_values=())
    consecutive_failures = tables.Column("Failures in a row", attrs=_NUM)
    last_error = tables.Column("Last error", empty_values=(), attrs=_WRAP)
    in_progress = tables.Column("In progress", accessor="calls_total", attrs=_NUM)
    stuck = tables.Column("Stuck since", accessor="oldest_open_call_at", empty_values=())

    class Meta:
        orderable = False
        attrs = {"class": "table health-tasks"}
        row_attrs = {"data-task": lambda record: record.pk}
        default = "—"
        empty_text = "No polled tasks."

    def __init__(self, *args, now: datetime | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.now = now or timezone.now()

    def render_last_success_at(self, value: datetime | None) -> str:
        return _when(value) if value else _NOT_YET

    def render_behind(self, value: datetime | None) -> str:
        return _behind(None if value is None else self.now - value)

    def render_consecutive_failures(self, value: int) -> str:
        return _in_a_row(value)

    def render_last_error(self, value: str, record: Task) -> str:
        if record.unknown_to_blu:
            return _unknown_state(record)
        return _error(value, record.consecutive_failures > 0)

    def render_in_progress(self, record: Task) -> str:
        return f"{record.calls_total - record.calls_final:,}"

    def render_stuck(self, value: datetime | None) -> str:
        return _stuck(value, self.now)


def _unknown_state(task: Task) -> str:
    """What a task Blu does not know is waiting for, Blu's own words in the title."""
    tries = task.blu_unknown_tries
    if task.stopped_as_unknown:
        text = f"Blu does not know this task: stopped polling after {tries} tries"
    else:
        next_try = _when(task.next_poll_at) if task.next_poll_at else "the next poll"
        text = (
            f"Blu does not know this task: asked {tries} time{'s' if tries != 1 else ''}, "
            f"next try at {next_try} (polling stops after {sync_health.unknown_task_tries()})"
        )
    return format_html('<span class="failed" title="{}">{}</span>', task.last_error, text)


def _stuck(oldest_open: datetime | None, now: datetime) -> str:
    if oldest_open is None or now - oldest_open <= sync_health.stuck_limit():
        return "—"
    return format_html(
        '<span class="failed" title="The oldest call still in progress started {}">{} ago</span>',
        _when(oldest_open),
        ago(now - oldest_open),
    )


class StuckTaskTable(tables.Table):
    """Tasks with a call in progress past BLUDASH_STUCK_CALL_HOURS (sync_health.stuck_tasks)."""

    task = tables.Column(
        "Task", accessor="blu_task_id", linkify=lambda record: record.get_absolute_url()
    )
    name = tables.Column("Name", attrs=_WRAP)
    account = tables.Column("Account", accessor="account__name")
    in_progress = tables.Column("In progress", accessor="calls_total", attrs=_NUM)
    oldest_open_call_at = tables.Column("Oldest call in progress started", empty_values=())
    last_success_at = tables.Column("Last success", empty_values=())

    class Meta:
        orderable = False
        attrs = {"class": "table health-stuck"}
        row_attrs = {"data-task": lambda record: record.pk}
        default = "—"
        empty_text = "No stuck tasks."

    def __init__(self, *args, now: datetime | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.now = now or timezone.now()

    def render_in_progress(self, record: Task) -> str:
        return f"{record.calls_total - record.calls_final:,}"

    def render_oldest_open_call_at(self, value: datetime) -> str:
        return format_html("{} ({})", _when(value), _stuck(value, self.now))

    def render_last_success_at(self, value: datetime | None) -> str:
        return _when(value) if value else _NOT_YET


class UnknownTaskTable(tables.Table):
    """Tasks no longer polled because Blu does not know them (sync_health.stopped_unknown_tasks)."""

    task = tables.Column(
        "Task", accessor="blu_task_id", linkify=lambda record: record.get_absolute_url()
    )
    name = tables.Column("Name", attrs=_WRAP)
    account = tables.Column("Account", accessor="account__name")
    named_by = tables.Column("Named by", accessor="learned_from_callback")
    state = tables.Column("State", accessor="blu_unknown_tries", attrs=_WRAP)
    last_sync_at = tables.Column("Last try", empty_values=())
    calls_total = tables.Column("Calls stored", attrs=_NUM)

    class Meta:
        orderable = False
        attrs = {"class": "table health-unknown"}
        row_attrs = {"data-task": lambda record: record.pk}
        default = "—"
        empty_text = "None: Blu knows every task it was asked about."

    def render_named_by(self, value: bool) -> str:
        # A made-up task from a callback points at a leaked token; from a person, at a typo.
        return "a callback" if value else "a person"

    def render_state(self, record: Task) -> str:
        return _unknown_state(record)

    def render_last_sync_at(self, value: datetime | None) -> str:
        return _when(value) if value else _NOT_YET

    def render_calls_total(self, value: int) -> str:
        return f"{value:,}"
