"""django-filter FilterSets for the tables: what a user can narrow a table by, read from the URL."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone

from calls.conclusions.categories import CATEGORY_ORDER, UNCLASSIFIED
from calls.models import BluAccount, CallRecord, Conclusion, Task

CALLS_DEFAULT_DAYS = 7
# Calls are from this century. A date far outside it is a typo or a probe, and at the ends of the
# calendar (0001-01-01, 9999-12-31) a day's bounds in the company's zone cannot be computed at all.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)


def sane_day(value: date) -> None:
    """Refuse a filter date outside EARLIEST_DAY..LATEST_DAY."""
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise ValidationError(
            f"Enter a date between {EARLIEST_DAY:%Y-%m-%d} and {LATEST_DAY:%Y-%m-%d}.",
            code="out_of_range",
        )


class _IntegerFilter(django_filters.NumberFilter):
    # NumberFilter reads a Decimal; status and talk seconds are whole numbers.
    field_class = forms.IntegerField


def day_start(day: date) -> datetime:
    """Midnight starting `day` in the company's zone: filters count days as the company does."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


class DayFilter(django_filters.DateFilter):
    """One end of a date range, inclusive in the company's calendar: `bound="from"` keeps rows
    whose `field_name` is on or after the day's first moment, `bound="until"` those before the
    next day's, so the whole of the last day counts."""

    def __init__(self, *, bound: str, **kwargs) -> None:
        if bound not in ("from", "until"):
            raise ValueError(f"bound is 'from' or 'until', not {bound!r}")
        self.bound = bound
        kwargs.setdefault("widget", forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
        kwargs.setdefault(
            "error_messages", {"invalid": "Enter a date as YYYY-MM-DD, for example 2024-08-15."}
        )
        kwargs.setdefault("validators", [sane_day])
        super().__init__(**kwargs)

    def filter(self, qs, value):
        if value is None:
            return qs
        if self.bound == "from":
            return qs.filter(**{f"{self.field_name}__gte": day_start(value)})
        return qs.filter(**{f"{self.field_name}__lt": day_start(value + timedelta(days=1))})


class SearchFilter(django_filters.CharFilter):
    """Free text matched against several lookups at once (any may match); blank matches all."""

    def __init__(self, *, lookups: list[str], **kwargs) -> None:
        self.lookups = lookups
        super().__init__(**kwargs)

    def filter(self, qs, value):
        value = (value or "").strip()
        if not value:
            return qs
        match = Q()
        for lookup in self.lookups:
            match |= Q(**{lookup: value})
        return qs.filter(match)


class RangeForm(forms.Form):
    """A filter form whose (low, high, what) field pairs must not end before they start."""

    ranges: tuple[tuple[str, str, str], ...] = ()

    def clean(self):
        data = super().clean() or {}
        for low, high, what in self.ranges:
            first, last = data.get(low), data.get(high)
            if first is not None and last is not None and first > last:
                self.add_error(high, f"The {what} range ends before it starts.")
        return data


def filter_errors(form: forms.Form) -> list[str]:
    """Each problem with the filters as one sentence naming the field, in the form's order."""
    return [
        f"{form.fields[name].label}: {message}" if name in form.fields else str(message)
        for name, errors in form.errors.items()
        for message in errors
    ]


# --- calls ----------------------------------------------------------------------------------


class CallFilterForm(RangeForm):
    ranges = (
        ("started_after", "started_before", "start date"),
        ("talk_min", "talk_max", "talk time"),
    )


_SECONDS_ERRORS = {
    "invalid": "Enter a whole number of seconds, for example 30.",
    "min_value": "Enter 0 seconds or more.",
}


def _talk_seconds(label: str, lookup_expr: str) -> _IntegerFilter:
    return _IntegerFilter(
        label=label,
        field_name="duration",
        lookup_expr=lookup_expr,
        min_value=0,
        error_messages=_SECONDS_ERRORS,
    )


class CallFilter(django_filters.FilterSet):
    """What the calls table can be narrowed by. Without a `started_after` key in the data the
    last CALLS_DEFAULT_DAYS days apply (written into the data, so the form shows it and links
    reproduce it); an empty `started_after` means no lower bound."""

    started_after = DayFilter(label="Started from", field_name="start_time", bound="from")
    started_before = DayFilter(label="Started until", field_name="start_time", bound="until")
    task = django_filters.CharFilter(label="Task", method="filter_task")
    account = django_filters.ChoiceFilter(
        label="Account", method="filter_account", empty_label="All accounts"
    )
    status = _IntegerFilter(
        label="Status", error_messages={"invalid": "Enter a status as a whole number, e.g. 2."}
    )
    talk_min = _talk_seconds("Talk from (s)", "gte")
    talk_max = _talk_seconds("Talk to (s)", "lte")
    q = SearchFilter(label="Name or phone", lookups=["name__icontains", "phone__icontains"])
    code = django_filters.MultipleChoiceFilter(
        label="Conclusion code",
        method="filter_codes",
        distinct=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "invalid_choice": "Unknown conclusion code %(value)s: pick codes from the list."
        },
    )

    class Meta:
        model = CallRecord
        fields: list[str] = []
        form = CallFilterForm

    def __init__(self, data=None, *args, **kwargs):
        data = data.copy() if data is not None else QueryDict(mutable=True)
        self.default_range = "started_after" not in data
        if self.default_range:
            data["started_after"] = self.default_start().isoformat()
        super().__init__(data, *args, **kwargs)
        self.conclusions = {c.code: c for c in Conclusion.objects.all()}
        self.codes = self._codes()
        self.filters["code"].extra["choices"] = [(code, code) for code in self.codes]
        accounts = BluAccount.objects.values_list("name", flat=True)
        self.filters["account"].extra["choices"] = [(name, name) for name in accounts]

    @staticmethod
    def default_start() -> date:
        return timezone.localdate(timezone=timezone.get_default_timezone()) - timedelta(
            days=CALLS_DEFAULT_DAYS - 1
        )

    def _codes(self) -> list[str]:
        # Every write (sync or callback) adds an unknown code to Conclusion with it, so the
        # dictionary lists every code a call can have, but those a callback brought over its
        # account's daily share of new codes, until Blu's query returns a call with them
        # (page_writer.learn_codes). Reading the summaries instead cost a scan that grows by
        # ~30,000 rows a month (bench/pages.py).
        return sorted(self.conclusions)

    def code_groups(self) -> list[dict[str, Any]]:
        """The code checkboxes grouped by the conclusion's category, in CATEGORY_ORDER; each option
        is {code, label, checked}. A code with no Conclusion row counts as unclassified."""
        chosen = set(self.data.getlist("code")) if hasattr(self.data, "getlist") else set()
        groups: dict[str, list[dict[str, Any]]] = {name: [] for name in CATEGORY_ORDER}
        for code in self.codes:
            conclusion = self.conclusions.get(code)
            category = conclusion.category if conclusion else UNCLASSIFIED
            groups[category].append(
                {
                    "code": code,
                    "label": conclusion.label if conclusion else "",
                    "checked": code in chosen,
                }
            )
        return [
            {"category": name, "options": groups[name]} for name in CATEGORY_ORDER if groups[name]
        ]

    def filter_codes(self, queryset, name, value):
        return queryset.filter(code__in=value) if value else queryset

    def filter_task(self, queryset, name, value):
        # Task ids first, so the calls query can walk its (task, -start_time) index.
        ids = list(Task.objects.filter(blu_task_id=value.strip()).values_list("pk", flat=True))
        return queryset.filter(task_id__in=ids)

    def filter_account(self, queryset, name, value):
        ids = list(BluAccount.objects.filter(name=value).values_list("pk", flat=True))
        return queryset.filter(account_id__in=ids)


# --- tasks ----------------------------------------------------------------------------------


class TaskFilterForm(RangeForm):
    ranges = (("started_after", "started_before", "date"),)


class TaskFilter(django_filters.FilterSet):
    """What the tasks table can be narrowed by. The date range keeps tasks with any call in it
    (their first-to-last call span overlaps the range), read from the Task summary fields."""

    # Ids are searched by prefix (people paste the start of a long id), names anywhere.
    q = SearchFilter(
        label="Task id or name", lookups=["blu_task_id__startswith", "name__icontains"]
    )
    account = django_filters.ModelChoiceFilter(
        label="Account",
        queryset=BluAccount.objects.all(),
        to_field_name="name",
        empty_label="All accounts",
        error_messages={"invalid_choice": "There is no account by that name."},
    )
    # A task's calls span first_call_at..last_call_at: it overlaps the range when its last call
    # is on or after the first day and its first call on or before the last day.
    started_after = DayFilter(label="Calls from", field_name="last_call_at", bound="from")
    started_before = DayFilter(label="Calls until", field_name="first_call_at", bound="until")
    polled = django_filters.ChoiceFilter(
        label="Polled",
        choices=[("yes", "Polled"), ("no", "Not polled")],
        empty_label="Polled or not",
        method="filter_polled",
        error_messages={"invalid_choice": "Choose polled, not polled, or either."},
    )
    sync = django_filters.ChoiceFilter(
        label="Last sync",
        choices=[("ok", "Succeeded"), ("failed", "Failed"), ("never", "Not synced yet")],
        empty_label="Any outcome",
        method="filter_sync",
        error_messages={"invalid_choice": "Choose succeeded, failed or not synced yet."},
    )

    class Meta:
        model = Task
        fields: list[str] = []
        form = TaskFilterForm

    def filter_polled(self, queryset, name, value):
        return queryset.filter(is_polled=value == "yes")

    def filter_sync(self, queryset, name, value):
        if value == "never":
            return queryset.filter(last_sync_ok__isnull=True)
        return queryset.filter(last_sync_ok=value == "ok")
