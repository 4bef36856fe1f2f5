"""What the promises page reads: the promises in one state with the filters applied, and how
many are in each state. A state is an outcome and a range of window ends (calls/promises/
states.py), and the filters are a task, an account and a period of window ends, so every list
and every count is a range of the (outcome, window_end), (task, window_end) or (account,
window_end) index, however many promises there are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from calls.models import BluAccount, Promise, Task
from calls.promises import states

# The tabs, in the order collections teams work them.
TABS = {
    "due_today": "due today",
    "overdue": "overdue",
    "broken": "broken",
    "kept": "kept",
    "open": "not yet due",
    "claimed_paid": "claimed paid",
    "superseded": "superseded",
}
DEFAULT_TAB = "due_today"
# The default period of window ends: a week back and a week ahead (the working list; a longer
# period is a filter away). Every count reads its state's part of this range.
DEFAULT_DAYS = 7
PAGE_ROWS = 50
# Dates a period may name: a day past the end of the calendar cannot be a day's end.
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)


class PromiseFilterForm(forms.Form):
    state = forms.ChoiceField(choices=list(TABS.items()), required=False)
    task = forms.ModelChoiceField(
        queryset=Task.objects.order_by("-first_seen_at"),
        required=False,
        to_field_name="blu_task_id",
        widget=forms.TextInput(attrs={"size": 12, "placeholder": "Blu task id"}),
    )
    account = forms.ModelChoiceField(
        queryset=BluAccount.objects.order_by("name"), required=False, to_field_name="name"
    )
    ends_after = forms.DateField(label="Window ends from", required=False)
    ends_before = forms.DateField(label="to", required=False)

    def clean(self) -> dict:
        data = super().clean() or {}
        for name in ("ends_after", "ends_before"):
            day = data.get(name)
            if day is not None and not EARLIEST <= day <= LATEST:
                self.add_error(name, f"Choose a date from {EARLIEST} to {LATEST}.")
        return data


@dataclass(frozen=True)
class Filters:
    state: str
    task: Task | None
    account: BluAccount | None
    since: date
    until: date


def filters_of(form: PromiseFilterForm, today: date) -> Filters:
    # A field that failed is left to its default; the others still filter.
    form.is_valid()
    cleaned = getattr(form, "cleaned_data", {})
    data = {name: value for name, value in cleaned.items() if name not in form.errors}
    return Filters(
        state=data.get("state") or DEFAULT_TAB,
        task=data.get("task"),
        account=data.get("account"),
        since=data.get("ends_after") or today - timedelta(days=DEFAULT_DAYS),
        until=data.get("ends_before") or today + timedelta(days=DEFAULT_DAYS),
    )


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def in_state(tab: str, now: datetime) -> Q:
    if tab == "due_today":
        # Due now, or its window opens later today (company time zone).
        tomorrow = _start_of(timezone.localdate(now) + timedelta(days=1))
        return Q(outcome=states.OPEN, window_start__lt=tomorrow, window_end__gte=now)
    if tab == "kept":
        return Q(outcome__in=[Promise.Outcome.KEPT, Promise.Outcome.PARTLY_KEPT])
    return states.condition(tab, now)


def filtered(chosen: Filters) -> QuerySet[Promise]:
    promises = Promise.objects.filter(
        window_end__gte=_start_of(chosen.since),
        window_end__lt=_start_of(chosen.until + timedelta(days=1)),
    )
    if chosen.task is not None:
        promises = promises.filter(task=chosen.task)
    if chosen.account is not None:
        promises = promises.filter(account=chosen.account)
    return promises


def listed(chosen: Filters, now: datetime) -> QuerySet[Promise]:
    """The promises of the chosen tab, state annotated, soonest window end first for what is
    still to come and newest first for the rest."""
    promises = states.with_state(filtered(chosen).filter(in_state(chosen.state, now)), now)
    ordering = (
        ("window_end", "id") if chosen.state in ("due_today", "open") else ("-window_end", "-id")
    )
    return promises.select_related("borrower", "task", "account", "call").order_by(*ordering)


def counts(chosen: Filters, now: datetime) -> dict[str, int]:
    """How many promises each tab holds under the filters: one indexed count per tab."""
    base = filtered(chosen)
    return {tab: base.filter(in_state(tab, now)).count() for tab in TABS}
