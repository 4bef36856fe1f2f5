"""Registering the day's tasks from the dashboard: Blu's task ids are valid for one day, so a
manager pastes the new ones each morning; each is synced at once and audited."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.views.generic import FormView

from calls import tasks
from calls.audit import trail
from calls.ingest import polling
from calls.models import BluAccount
from calls.security import roles
from calls.security.access import DashboardView


class TaskRegistrationForm(forms.Form):
    account = forms.ModelChoiceField(
        queryset=BluAccount.objects.filter(is_polled=True),
        empty_label=None,
        error_messages={"invalid_choice": "Choose one of the enabled Blu accounts."},
    )
    task_ids = forms.CharField(
        label="Task ids",
        widget=forms.Textarea(attrs={"rows": 6, "cols": 40, "spellcheck": "false"}),
        help_text="One or many, separated by new lines, spaces or commas, as Blu's console "
        "lists them.",
    )

    def clean_task_ids(self) -> list[str]:
        try:
            return polling.parse_task_ids(self.cleaned_data["task_ids"])
        except polling.BadTaskIds as exc:
            raise forms.ValidationError(str(exc)) from None


def _listed(ids: list[str], most: int = 10) -> str:
    more = f" and {len(ids) - most} more" if len(ids) > most else ""
    return ", ".join(ids[:most]) + more


class TaskRegistrationView(DashboardView, FormView):
    permission_required = roles.REGISTER_TASKS
    template_name = "calls/task_register.html"
    form_class = TaskRegistrationForm

    def form_valid(self, form: TaskRegistrationForm) -> HttpResponse:
        account = form.cleaned_data["account"]
        with transaction.atomic():
            registration = polling.register_tasks(account, form.cleaned_data["task_ids"])
            for task in [*registration.added, *registration.revived]:
                tasks.enqueue_sync_on_commit(task.pk, trigger="new")
                trail.record(
                    trail.Action.TASK_REGISTERED,
                    self.request,
                    target=f"{account.name}/{task.blu_task_id}",
                )
        added = [task.blu_task_id for task in registration.added]
        if added:
            messages.success(
                self.request,
                f"Registered {len(added)} task{pluralize(len(added))} of {account.name}, "
                f"each syncing now: {_listed(added)}.",
            )
        revived = [task.blu_task_id for task in registration.revived]
        if revived:
            messages.success(
                self.request,
                f"Blu did not know {len(revived)} task{'s' if len(revived) != 1 else ''} of "
                f"{account.name}; polling {'them' if len(revived) != 1 else 'it'} again, "
                f"syncing now: {_listed(revived)}.",
            )
        if registration.known:
            messages.info(
                self.request,
                f"Registered already, left as they were: {_listed(registration.known)}.",
            )
        return redirect("calls:task_list")

    def form_invalid(self, form: TaskRegistrationForm) -> HttpResponse:
        messages.error(self.request, "No task was registered: correct what is marked below.")
        return super().form_invalid(form)
