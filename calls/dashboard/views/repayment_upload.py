"""The managers' upload of a repayments file: a preview of what would be stored and a report of
every bad row, then, only when a manager confirms a file with none, the import. Between the
two steps the file waits in the cache under a random token held by the manager's session, so
nothing is saved until confirmed and no one else can confirm it."""

from __future__ import annotations

import secrets

from django import forms
from django.contrib import messages
from django.core.cache import cache
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views import View

from calls.models import BluAccount, Repayment
from calls.promises import repayments
from calls.security import roles
from calls.security.access import DashboardView

PREVIEW_ROWS = 100
_WAIT_SECONDS = 3600
_SESSION_KEY = "repayment_upload"


class UploadForm(forms.Form):
    account = forms.ModelChoiceField(
        queryset=BluAccount.objects.order_by("name"), to_field_name="name", empty_label=None
    )
    file = forms.FileField(help_text="CSV: borrower, amount, paid_at[, orderId, reference]")


def _read(upload) -> tuple[str | None, str]:
    """The file's text, or None and why not."""
    if upload.size > repayments.MAX_FILE_BYTES:
        return None, f"The file is larger than {repayments.MAX_FILE_BYTES // (1024 * 1024)} MB."
    try:
        return upload.read().decode("utf-8-sig"), ""
    except UnicodeDecodeError:
        return None, "The file is not UTF-8 text: save it as CSV (UTF-8)."


class RepaymentUploadView(DashboardView, View):
    permission_required = roles.IMPORT_REPAYMENTS
    template_name = "calls/repayment_upload.html"

    def get(self, request):
        return render(request, self.template_name, {"form": UploadForm()})

    def post(self, request):
        if "confirm" in request.POST:
            return self._confirm(request)
        form = UploadForm(request.POST, request.FILES)
        context: dict = {"form": form}
        if form.is_valid():
            account = form.cleaned_data["account"]
            text, problem = _read(form.cleaned_data["file"])
            if text is None:
                form.add_error("file", problem)
            else:
                records, errors = repayments.csv_records(text)
                result = repayments.ImportResult(errors=errors)
                if not errors:
                    result = repayments.import_repayments(account, records, save=False)
                context.update(account=account, result=result, rows=result.rows[:PREVIEW_ROWS])
                if result.ok:
                    token = secrets.token_urlsafe(24)
                    cache.set(f"{_SESSION_KEY}:{token}", (account.pk, text), _WAIT_SECONDS)
                    request.session[_SESSION_KEY] = token
                    context["token"] = token
        return render(request, self.template_name, context)

    def _confirm(self, request):
        token = request.POST.get("confirm", "")
        waiting = cache.get(f"{_SESSION_KEY}:{token}") if token else None
        if not token or request.session.get(_SESSION_KEY) != token or waiting is None:
            messages.error(request, "That upload is no longer waiting: upload the file again.")
            return HttpResponseRedirect(reverse("calls:repayment_upload"))
        account_pk, text = waiting
        account = BluAccount.objects.get(pk=account_pk)
        records, _errors = repayments.csv_records(text)
        result = repayments.import_repayments(account, records, source=Repayment.Source.UPLOAD)
        cache.delete(f"{_SESSION_KEY}:{token}")
        request.session.pop(_SESSION_KEY, None)
        if not result.saved:
            # Rows stored by someone else since the preview can make a reference disagree.
            return render(request, self.template_name, {"form": UploadForm(), "result": result})
        new = len(result.new)
        messages.success(
            request,
            f"{new} repayment{pluralize(new)} imported to {account.name}, "
            f"{result.duplicates} already stored.",
        )
        return HttpResponseRedirect(reverse("calls:promise_list"))
