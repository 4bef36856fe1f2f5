"""The promises and repayments tables: the promises page (and its export) and the borrower's."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils import timezone

from calls.models import Promise, Repayment
from calls.promises import states

_NUM = {"td": {"class": "num"}, "th": {"class": "num"}}
_TIME = {"td": {"class": "time"}}


def _local(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


class PromiseTable(tables.Table):
    """One row per promise; each links to its borrower, task and call. The state is the one
    annotated at read (states.with_state)."""

    borrower = tables.Column(
        "Borrower",
        accessor="borrower__key",
        linkify=lambda record: record.borrower.get_absolute_url(),
    )
    name = tables.Column("Name", accessor="borrower__name")
    account = tables.Column("Account", accessor="account__name")
    task = tables.Column(
        "Task",
        accessor="task__blu_task_id",
        linkify=lambda record: reverse("calls:task_detail", kwargs={"pk": record.task_id}),
    )
    call = tables.Column(
        "Call",
        accessor="call__call_id",
        linkify=lambda record: reverse("calls:call_detail", kwargs={"pk": record.call_id}),
    )
    made_at = tables.Column("Promised", attrs=_TIME)
    window_start = tables.Column("Window from", attrs=_TIME)
    window_end = tables.Column("Window to", attrs=_TIME)
    clear_time = tables.Column("Time said", empty_values=())
    state = tables.Column("State", empty_values=())
    expected_amount = tables.Column("Expected", attrs=_NUM)
    paid_amount = tables.Column("Paid", attrs=_NUM)

    class Meta:
        model = Promise
        fields: list[str] = []
        orderable = False
        attrs = {"class": "table promises-table", "id": "promises"}
        empty_text = "No promises here."

    def render_made_at(self, value) -> str:
        return _local(value)

    render_window_start = render_made_at
    render_window_end = render_made_at
    value_made_at = render_made_at
    value_window_start = render_made_at
    value_window_end = render_made_at

    def render_clear_time(self, value) -> str:
        return "yes" if value else "no (default window)"

    value_clear_time = render_clear_time

    def render_state(self, value) -> str:
        return states.STATES.get(value, value)

    value_state = render_state


class RepaymentTable(tables.Table):
    paid_at = tables.Column("Paid", attrs=_TIME)
    amount = tables.Column("Amount", attrs=_NUM)
    account = tables.Column("Account", accessor="account__name")
    order_id = tables.Column("orderId")
    reference = tables.Column("Reference")
    promise = tables.Column("Kept promise", accessor="promise__window_end")

    class Meta:
        model = Repayment
        fields: list[str] = []
        orderable = False
        attrs = {"class": "table repayments-table", "id": "borrower-repayments"}
        empty_text = "No repayments."

    def render_paid_at(self, value) -> str:
        return _local(value)

    def render_promise(self, value) -> str:
        return f"window to {_local(value)}"
