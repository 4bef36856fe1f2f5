"""django-tables2 tables: one per presentation."""

from __future__ import annotations

from datetime import datetime

import django_tables2 as tables
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.safestring import SafeString

from calls.dashboard import borrowers, kpis
from calls.dashboard.charts import outcome_bar
from calls.dashboard.formatting import limit_badges, rate, talk_time
from calls.dashboard.recordings import is_recording_url
from calls.dashboard.table_rows import QuickRows
from calls.models import Borrower, CallRecord, StatusLabel, Task

_TASK_NUM = {"td": {"class": "num"}, "th": {"class": "num"}}
_TASK_TIME = "Y-m-d H:i"


class LocalTimeColumn(tables.DateTimeColumn):
    """A DateTimeColumn drawn without its template: the same text (Django's date format, in
    the current time zone), at a fraction of the cost of rendering a template per cell."""

    def __init__(self, format: str, *args, **kwargs) -> None:
        super().__init__(format, *args, **kwargs)
        self.time_format = format

    def render(self, value, **kwargs) -> str:  # type: ignore[override]
        if not isinstance(value, datetime):
            return super().render(value=value, **kwargs)
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return dateformat.format(value, self.time_format)


def _task_order(*fields: str):
    """An order_FOO method for the tasks table: empty values (a task without calls has no rate)
    sort last both ways, and the id breaks ties so rows keep their place from page to page."""

    def order(table, queryset, is_descending):
        keys = [
            F(f).desc(nulls_last=True) if is_descending else F(f).asc(nulls_last=True)
            for f in fields
        ]
        return queryset.order_by(*keys, "-pk" if is_descending else "pk"), True

    return order


class TaskTable(QuickRows, tables.Table):
    """Tasks with their summary counts. Expects summary_queries.with_rates() annotations and the
    conclusions (by code) for the outcome mix."""

    blu_task_id = tables.Column("Task", linkify=True)
    name = tables.Column("Name", attrs={"td": {"class": "wrap"}})
    account = tables.Column("Account", accessor="account__name")
    first_call_at = LocalTimeColumn(_TASK_TIME, verbose_name="First call")
    last_call_at = LocalTimeColumn(_TASK_TIME, verbose_name="Last call")
    calls_total = tables.Column("Calls", attrs=_TASK_NUM)
    share_finished = tables.Column("Finished", accessor="finished_ratio", attrs=_TASK_NUM)
    outcomes = tables.Column(
        "Outcome mix", accessor="code_counts", orderable=False, empty_values=()
    )
    connect_rate = tables.Column("Connect rate", accessor="connect_ratio", attrs=_TASK_NUM)
    promise_rate = tables.Column("Promise rate", accessor="promise_ratio", attrs=_TASK_NUM)
    average_talk = tables.Column("Avg talk", attrs=_TASK_NUM)
    median_talk = tables.Column("Median talk", accessor="median_talk_seconds", attrs=_TASK_NUM)
    last_sync_at = tables.Column("Last synced", empty_values=())

    order_blu_task_id = _task_order("blu_task_id")
    order_name = _task_order("name")
    order_account = _task_order("account__name")
    order_first_call_at = _task_order("first_call_at")
    order_last_call_at = _task_order("last_call_at")
    order_calls_total = _task_order("calls_total")
    order_share_finished = _task_order("finished_ratio")
    order_connect_rate = _task_order("connect_ratio")
    order_promise_rate = _task_order("promise_ratio")
    order_average_talk = _task_order("average_talk")
    order_median_talk = _task_order("median_talk_seconds")
    order_last_sync_at = _task_order("last_sync_at")

    class Meta:
        attrs = {"class": "table tasks"}
        default = "—"
        empty_text = "No tasks yet."
        template_name = "calls/_tasks_table.html"

    def __init__(self, *args, conclusions: dict | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.conclusions = conclusions if conclusions is not None else {}

    def render_calls_total(self, value: int) -> str:
        return f"{value:,}"

    def render_share_finished(self, record: Task) -> str:
        return rate(
            kpis.Rate(record.calls_final, record.calls_total, "finished calls", "calls placed"),
            bare=True,
        )

    def render_outcomes(self, record: Task) -> str:
        in_progress = record.calls_total - sum(record.code_counts.values())
        counts = {**record.code_counts, "": max(in_progress, 0)}
        return outcome_bar(kpis.mix(counts, self.conclusions))

    def render_connect_rate(self, record: Task) -> str:
        return rate(
            kpis.Rate(
                record.calls_connected, record.calls_total, "connected calls", "calls placed"
            ),
            compact=True,
        )

    def render_promise_rate(self, record: Task) -> str:
        promises = kpis.Rate(
            record.calls_promised,
            record.calls_right_party,
            "promises to pay",
            "right-party contacts",
        )
        return rate(promises, compact=True)

    def render_average_talk(self, value: float, record: Task) -> str:
        title = kpis.Average(record.talk_seconds, record.calls_answered).title
        return format_html('<span title="{}">{}</span>', title, talk_time(value))

    def render_median_talk(self, value: int) -> str:
        return talk_time(value)

    def render_last_sync_at(self, record: Task) -> str:
        if record.last_sync_at is None:
            return SafeString('<span class="muted">not yet</span>')
        when = timezone.localtime(record.last_sync_at).strftime("%Y-%m-%d %H:%M")
        if record.last_sync_ok:
            return format_html('{} <span class="ok">ok</span>', when)
        return format_html(
            '{} <span class="failed" title="{}">failed</span>', when, record.last_error[:500]
        )


def _started_header() -> str:
    return f"Started ({timezone.get_current_timezone_name()})"


def _sorted_with_id(field: str) -> tuple[str, str]:
    # The id breaks ties, so rows with equal values keep their place from page to page.
    return (field, "id")


class CallTable(QuickRows, tables.Table):
    """Calls, newest first. HTML shows labels and m:ss; exports (`value_*`) get plain values, times
    as naive datetimes in the company's zone (named in the header) and talk time in seconds."""

    call_id = tables.Column(
        "Call",
        linkify=lambda record: reverse("calls:call_detail", kwargs={"pk": record.pk}),
        order_by=_sorted_with_id("call_id"),
    )
    task = tables.Column(
        "Task",
        accessor="task__blu_task_id",
        linkify=lambda record: reverse("calls:task_detail", kwargs={"pk": record.task_id}),
        order_by=_sorted_with_id("task__blu_task_id"),
    )
    account = tables.Column(
        "Account", accessor="account__name", order_by=_sorted_with_id("account__name")
    )
    start_time = LocalTimeColumn(
        verbose_name=lazy(_started_header, str)(),
        format="Y-m-d H:i:s",
        order_by=_sorted_with_id("start_time"),
        attrs={"td": {"class": "time"}},
    )
    name = tables.Column("Name", order_by=_sorted_with_id("name"))
    phone = tables.Column("Phone", order_by=_sorted_with_id("phone"))
    status = tables.Column("Status", order_by=_sorted_with_id("status"))
    # The limits the call broke show under its code (a column of their own pushed the table
    # past a 1440-pixel window); the export keeps them in a column: `limits`.
    code = tables.Column(
        "Code",
        order_by=_sorted_with_id("code"),
        attrs={"td": {"class": "code-cell"}},
        empty_values=(),  # a call in progress has no code and may still have broken a limit
    )
    desc = tables.Column(
        "Description", order_by=_sorted_with_id("desc"), attrs={"td": {"class": "desc-cell"}}
    )
    duration = tables.Column(
        "Talk",
        order_by=_sorted_with_id("duration"),
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
        exclude_from_export=True,
    )
    # Export only: spreadsheets want seconds as a number, not the m:ss the page shows.
    talk_seconds = tables.Column("Talk seconds", accessor="duration", visible=False)
    # Blu's recording links are bearer links: the page links our own checked view instead.
    recording = tables.Column(
        "Recording", accessor="record_url", orderable=False, exclude_from_export=True
    )
    borrower = tables.Column(
        "Borrower",
        accessor="borrower__key",
        linkify=lambda record: record.borrower.get_absolute_url(),
        order_by=_sorted_with_id("borrower__key"),
    )
    # The contact limits the call broke when it was made (calls/limits/), kept by the writes.
    # Through the relation, so an export joins it; not sortable: a sort by a flag few calls
    # have would read every call. Export only: the page shows them in the code's cell.
    limits = tables.Column(
        "Limits broken",
        accessor="limit_breach__pk",
        orderable=False,
        empty_values=(),
        visible=False,
    )

    class Meta:
        model = CallRecord
        fields: list[str] = []
        order_by = "-start_time"
        # Keyset pages link by cursor, offset pages by number (calls.dashboard.keyset).
        template_name = "calls/_calls_table.html"
        attrs = {"class": "table calls-table"}
        empty_text = "No calls yet."

    def __init__(self, data=None, *args, **kwargs):
        if isinstance(data, QuerySet):
            # Each page's tasks and accounts in one query apiece: a join would be paid for every
            # row an OFFSET skips, and deep pages skip tens of thousands.
            data = data.prefetch_related("task", "account", "borrower", "limit_breach")
        super().__init__(data, *args, **kwargs)

    def _status_label(self, value: int) -> str:
        # Unlabelled values show as themselves; the labels are read once per table.
        if not hasattr(self, "_status_labels"):
            self._status_labels = dict(StatusLabel.objects.values_list("value", "label"))
        return self._status_labels.get(value, str(value))

    def render_status(self, value: int) -> str:
        return self._status_label(value)

    def value_status(self, value: int) -> str:
        return self._status_label(value)

    def render_duration(self, value: int | None, record: CallRecord) -> str:
        # Blu reports 0 for a call nobody answered: no talk is not a talk of 0:00.
        return talk_time(value) if record.answer_time is not None else "—"

    def value_start_time(self, value: datetime) -> datetime:
        # Naive on purpose: a spreadsheet cell holds no zone, and the header names it.
        return timezone.localtime(value).replace(tzinfo=None)

    def render_code(self, value: str, record: CallRecord) -> str:
        broken = limit_badges(record.limits_broken)
        return format_html("{} {}", value or "—", broken) if broken else (value or "—")

    def value_code(self, value: str) -> str:
        return value

    def value_limits(self, record: CallRecord) -> str:
        return "; ".join(record.limits_broken)

    def render_recording(self, value: str, record: CallRecord) -> str:
        if not is_recording_url(value):
            return "—"
        url = reverse("calls:call_recording", kwargs={"pk": record.pk})
        return format_html('<a href="{}">listen</a>', url)


class BorrowerTable(tables.Table):
    """Borrowers, by last call or by calls in the last 7 days. The sort reads the stored values
    (Borrower.calls_7d); the counts shown and the last right-party contact are counted for the
    page's rows at read (calls.dashboard.borrowers)."""

    key = tables.Column(
        "Borrower",
        linkify=lambda record: record.get_absolute_url(),
        orderable=False,
    )
    name = tables.Column("Name", orderable=False)
    order_id = tables.Column("orderId", orderable=False)
    phone = tables.Column("Phone", orderable=False)
    account = tables.Column("Account", accessor="account__name", orderable=False)
    last_call_at = LocalTimeColumn(
        verbose_name="Last call",
        format="Y-m-d H:i",
        order_by=("last_call_at", "id"),
        attrs={"td": {"class": "time"}},
    )
    calls_7d = tables.Column(
        "Calls in 7 days", order_by=("calls_7d", "id"), attrs=_TASK_NUM, empty_values=()
    )
    last_right_party = tables.Column(
        "Last right-party contact", accessor="pk", orderable=False, empty_values=()
    )

    class Meta:
        model = Borrower
        fields: list[str] = []
        order_by = "-last_call_at"
        template_name = "calls/_borrowers_table.html"
        attrs = {"class": "table borrowers-table"}
        empty_text = "No borrowers match."

    def __init__(self, data=None, *args, **kwargs):
        if isinstance(data, QuerySet):
            data = data.prefetch_related("account")
        super().__init__(data, *args, **kwargs)

    def _page_pks(self) -> list[int]:
        return [row.record.pk for row in self.page.object_list]

    def render_calls_7d(self, record: Borrower) -> str:
        if not hasattr(self, "_recent"):
            self._recent = borrowers.recent_counts(self._page_pks())
        return f"{self._recent.get(record.pk, 0):,}"

    def render_last_right_party(self, record: Borrower) -> str:
        if not hasattr(self, "_right_party"):
            self._right_party = borrowers.last_right_party(self._page_pks())
        when = self._right_party.get(record.pk)
        return timezone.localtime(when).strftime("%Y-%m-%d %H:%M") if when else "—"
