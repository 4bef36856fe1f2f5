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
# A tab counts at most this many promises and then says "10,000+": past that a team works the
# list by filters, not by the figure, and counting every broken promise of four months at a
# million promises cost 100 to 200 ms a request. Each count reads at most CAP + 1 index entries.
COUNT_CAP = 10_000
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
        # Still to be paid, and the last moment to pay falls today (company time zone): not
        # every promise whose window is open now, which may end next week.
        tomorrow = _start_of(timezone.localdate(now) + timedelta(days=1))
        return Q(outcome=states.OPEN, window_end__gte=now, window_end__lt=tomorrow)
    if tab == "open":
        # Every promise still to be paid by a day after today, whether or not its window has
        # begun: with "due today" it holds every open promise not yet past its window.
        tomorrow = _start_of(timezone.localdate(now) + timedelta(days=1))
        return Q(outcome=states.OPEN, window_end__gte=tomorrow)
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
    return (
        promises.select_related("borrower", "task", "account", "call")
        # The table shows the call's id only: not its raw record and extVars, kilobytes a row.
        .defer(*(f"call__{name}" for name in CALL_BULK))
        .order_by(*ordering)
    )


CALL_BULK = ("raw", "ext_vars", "ext_vars_raw", "script", "slots", "problems", "record_url")


def counts(chosen: Filters, now: datetime) -> dict[str, int]:
    """How many promises each tab holds under the filters, each at most COUNT_CAP + 1 (shown
    as "10,000+"): one indexed count per tab, of at most that many rows."""
    base = filtered(chosen).order_by()
    return {
        tab: base.filter(in_state(tab, now)).values("pk")[: COUNT_CAP + 1].count() for tab in TABS
    }


def shown_count(count: int) -> str:
    return f"{COUNT_CAP:,}+" if count > COUNT_CAP else str(count)
