"""The admin: Blu accounts with a write-only app key; everything Blu sent is read-only here."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from .models import BluAccount, CallRecord, Conclusion, StatusLabel, SyncRun, Task


class BluAccountForm(forms.ModelForm):
    base_url = forms.URLField(assume_scheme="https", help_text="The API base URL Blu gave you")
    app_key = forms.CharField(
        label="App key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Leave empty to keep the current key.",
    )

    class Meta:
        model = BluAccount
        fields = ["name", "base_url", "app_id", "app_key", "time_zone", "is_polled"]

    def clean(self):
        cleaned = super().clean() or {}
        if not self.instance.app_key_encrypted and not cleaned.get("app_key"):
            self.add_error("app_key", "A new account needs its app key.")
        return cleaned

    def save(self, commit: bool = True) -> BluAccount:
        account = super().save(commit=False)
        if self.cleaned_data.get("app_key"):
            account.set_app_key(self.cleaned_data["app_key"])
        if commit:
            account.save()
        return account


@admin.register(BluAccount)
class BluAccountAdmin(admin.ModelAdmin):
    form = BluAccountForm
    list_display = ["name", "app_id", "base_url", "time_zone", "is_polled"]
    readonly_fields = ["callback_url", "created_at"]

    @admin.display(description="Callback URL for Blu's console")
    def callback_url(self, obj: BluAccount) -> str:
        return obj.callback_url() if obj.pk else "(shown once saved)"


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = [
        "blu_task_id",
        "name",
        "account",
        "calls_total",
        "is_polled",
        "last_sync_at",
        "last_sync_ok",
    ]
    list_filter = ["account", "is_polled", "last_sync_ok"]
    search_fields = ["blu_task_id", "name"]
    fields = ["account", "blu_task_id", "name", "is_polled"]
    list_select_related = ["account"]

    def get_readonly_fields(self, request, obj=None):
        return ["account", "blu_task_id"] if obj else []


@admin.register(Conclusion)
class ConclusionAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "label",
        "classified",
        "connected",
        "live_person",
        "right_party",
        "promise_to_pay",
        "already_paid",
        "complaint",
    ]
    list_filter = ["classified"]
    search_fields = ["code", "label"]


@admin.register(StatusLabel)
class StatusLabelAdmin(admin.ModelAdmin):
    list_display = ["value", "label"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """What Blu reported is the record: nobody edits or deletes it by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CallRecord)
class CallRecordAdmin(ReadOnlyAdmin):
    list_display = ["call_id", "task", "start_time", "code", "duration"]
    list_select_related = ["task"]
    search_fields = ["call_id"]
    show_full_result_count = False  # no COUNT(*) over millions of calls per page


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ["task", "started_at", "outcome", "pages", "created", "changed", "skipped"]
    list_filter = ["outcome"]
    list_select_related = ["task"]
    show_full_result_count = False
