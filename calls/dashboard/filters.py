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

# === Calls (owned by the calls work) ===

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


class CallFilterForm(forms.Form):
    """Checks that need two fields at once: a range must not end before it starts."""

    def clean(self):
        data = super().clean() or {}
        for low, high, what in (
            ("started_after", "started_before", "start date"),
            ("talk_min", "talk_max", "talk time"),
        ):
            first, last = data.get(low), data.get(high)
            if first is not None and last is not None and first > last:
                self.add_error(high, f"The {what} range ends before it starts.")
        return data


def _date_input(**attrs) -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date", **attrs}, format="%Y-%m-%d")


_DATE_ERRORS = {"invalid": "Enter a date as YYYY-MM-DD, for example 2024-08-15."}
_SECONDS_ERRORS = {
    "invalid": "Enter a whole number of seconds, for example 30.",
    "min_value": "Enter 0 seconds or more.",
}


def _day_start(day: date) -> datetime:
    """Midnight starting `day` in the company's zone: filters count days as the company does."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


class CallFilter(django_filters.FilterSet):
    """What the calls table can be narrowed by. Without a `started_after` key in the data the
    last CALLS_DEFAULT_DAYS days apply (written into the data, so the form shows it and links
    reproduce it); an empty `started_after` means no lower bound."""

    started_after = django_filters.DateFilter(
        label="Started from",
        method="filter_started_after",
        widget=_date_input(),
        error_messages=_DATE_ERRORS,
        validators=[sane_day],
    )
    started_before = django_filters.DateFilter(
        label="Started until",
        method="filter_started_before",
        widget=_date_input(),
        error_messages=_DATE_ERRORS,
        validators=[sane_day],
    )
    task = django_filters.CharFilter(label="Task", method="filter_task")
    account = django_filters.ChoiceFilter(
        label="Account", method="filter_account", empty_label="All accounts"
    )
    status = _IntegerFilter(
        label="Status", error_messages={"invalid": "Enter a status as a whole number, e.g. 2."}
    )
    talk_min = _IntegerFilter(
        label="Talk from (s)",
        field_name="duration",
        lookup_expr="gte",
        min_value=0,
        error_messages=_SECONDS_ERRORS,
    )
    talk_max = _IntegerFilter(
        label="Talk to (s)",
        field_name="duration",
        lookup_expr="lte",
        min_value=0,
        error_messages=_SECONDS_ERRORS,
    )
    q = django_filters.CharFilter(label="Name or phone", method="search")
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
        # Every write (sync or callback) adds an unknown code to Conclusion in the same
        # transaction, so the dictionary alone lists every code a call can have; reading the
        # summaries instead cost a scan that grows by ~30,000 rows a month (bench/pages.py).
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

    def filter_started_after(self, queryset, name, value):
        return queryset.filter(start_time__gte=_day_start(value))

    def filter_started_before(self, queryset, name, value):
        # Inclusive: the whole of the last day counts.
        return queryset.filter(start_time__lt=_day_start(value + timedelta(days=1)))

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(phone__icontains=value))


# === end calls ===

# === Tasks (owned by the overview/tasks work) ===


class TaskFilterForm(forms.Form):
    def clean(self):
        data = super().clean() or {}
        after, before = data.get("started_after"), data.get("started_before")
        if after is not None and before is not None and after > before:
            self.add_error("started_before", "The date range ends before it starts.")
        return data


def _task_day_start(day: date) -> datetime:
    # Days are the company's, as on every page.
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


_TASK_DATE_ERRORS = {"invalid": "Enter a date as YYYY-MM-DD, for example 2024-08-15."}


class TaskFilter(django_filters.FilterSet):
    """What the tasks table can be narrowed by. The date range keeps tasks with any call in it
    (their first-to-last call span overlaps the range), read from the Task summary fields."""

    q = django_filters.CharFilter(label="Task id or name", method="search")
    account = django_filters.ModelChoiceFilter(
        label="Account",
        queryset=BluAccount.objects.all(),
        to_field_name="name",
        empty_label="All accounts",
        error_messages={"invalid_choice": "There is no account by that name."},
    )
    started_after = django_filters.DateFilter(
        label="Calls from",
        method="filter_calls_from",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages=_TASK_DATE_ERRORS,
        validators=[sane_day],
    )
    started_before = django_filters.DateFilter(
        label="Calls until",
        method="filter_calls_until",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages=_TASK_DATE_ERRORS,
        validators=[sane_day],
    )
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

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # Ids are searched by prefix (people paste the start of a long id), names anywhere.
        return queryset.filter(Q(blu_task_id__startswith=value) | Q(name__icontains=value))

    def filter_calls_from(self, queryset, name, value):
        return queryset.filter(last_call_at__gte=_task_day_start(value))

    def filter_calls_until(self, queryset, name, value):
        # Inclusive: the whole of the last day counts.
        return queryset.filter(first_call_at__lt=_task_day_start(value + timedelta(days=1)))

    def filter_polled(self, queryset, name, value):
        return queryset.filter(is_polled=value == "yes")

    def filter_sync(self, queryset, name, value):
        if value == "never":
            return queryset.filter(last_sync_ok__isnull=True)
        return queryset.filter(last_sync_ok=value == "ok")


# === end tasks ===
