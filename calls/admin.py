"""The admin: Blu accounts with a write-only app key; everything Blu sent is read-only here.

An account's app key is typed in once and never shown again: pages show it masked, the audit log
and the admin's history name the field that changed, never its value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.text import Truncator
from django.views.decorators.debug import sensitive_post_parameters

from calls import operations, tasks
from calls.audit import trail
from calls.conclusions.categories import FLAG_NAMES
from calls.conclusions.dictionary import DICTIONARY
from calls.health import connection
from calls.ingest import reread, summaries
from calls.models import (
    AuditEvent,
    BluAccount,
    CallRecord,
    Conclusion,
    ContactLimits,
    RepaymentToken,
    StatusLabel,
    SyncRun,
    Task,
    new_callback_token,
)
from calls.promises import tokens as repayment_tokens

Action = AuditEvent.Action
# What set_app_key() writes: saved together, and only when the key itself was replaced.
_KEY_FIELDS = ["app_key_encrypted", "app_key_hint", "app_key_changed_at"]


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
        fields = [
            "name",
            "base_url",
            "app_id",
            "app_key",
            "time_zone",
            "is_polled",
            "borrower_keys",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["app_id"].validators.append(connection.validate_app_id)

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


def _shown(value: Any) -> Any:
    # A time of day as the admin typed it; numbers (and an empty limit, None) as they are.
    return value.strftime("%H:%M") if hasattr(value, "strftime") else value


class TaskIdForm(forms.Form):
    task_id = forms.CharField(
        label="Blu task id",
        max_length=64,
        help_text="Any task of this account that Blu knows: one of its records is asked for.",
    )


@dataclass(frozen=True)
class TokenUrl:
    """One of an account's two URLs for Blu, each with a token of its own."""

    field: str
    name: str
    action: str  # the audit log's
    view: str  # the admin URL name's end, and the action's name
    stops: str  # what stops working until Blu's console has the new URL


CALLBACK = TokenUrl(
    "callback_token",
    "callback URL",
    Action.TOKEN_REGENERATED,
    "regenerate_callback",
    "Blu keeps sending dial results to it until the new URL is entered in Blu's console; until "
    "then results arrive only by polling, which still fetches every call.",
)
PREDIAL = TokenUrl(
    "predial_token",
    "pre-dial URL",
    Action.PREDIAL_TOKEN_REGENERATED,
    "regenerate_predial",
    "Blu keeps asking it before each call until the new URL is entered in Blu's console; until "
    "then its checks are refused and nobody on the stop list is held back at the last moment.",
)


class ContactLimitsInline(admin.StackedInline):
    """The account's contact limits: shown with the defaults until an admin saves them."""

    model = ContactLimits
    can_delete = False
    max_num = 1
    min_num = 1
    verbose_name_plural = "Contact limits (per borrower, in the account's time zone)"
    fields = ["max_calls_7d", "hold_off_days", "calling_from", "calling_until"]


@admin.register(BluAccount)
class BluAccountAdmin(admin.ModelAdmin):
    form = BluAccountForm
    inlines = [ContactLimitsInline]
    list_display = ["name", "app_id", "base_url", "time_zone", "is_polled", "stored_app_key"]
    readonly_fields = [
        "stored_app_key",
        "app_key_changed_at",
        "callback_url",
        "predial_url",
        "created_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "base_url", "app_id", "time_zone", "is_polled"]}),
        ("App key", {"fields": ["stored_app_key", "app_key_changed_at", "app_key"]}),
        ("Callbacks", {"fields": ["callback_url", "predial_url", "created_at"]}),
        ("Borrowers", {"fields": ["borrower_keys"]}),
    ]
    actions = [
        "test_connection",
        "disable_accounts",
        "enable_accounts",
        "regenerate_callback_urls",
        "regenerate_predial_urls",
    ]

    @admin.display(description="Stored app key")
    def stored_app_key(self, obj: BluAccount) -> str:
        return obj.masked_app_key

    @admin.display(description="Callback URL for Blu's console")
    def callback_url(self, obj: BluAccount) -> str:
        if not obj.pk:
            return "(shown once saved)"
        return format_html(
            '<code>{}</code><br><span class="help">Blu sends each dial result here: the address '
            "is the credential. After regenerating it, enter the new one in Blu's console: until "
            "then Blu's callbacks are refused (polling still fetches every call).</span>",
            obj.callback_url(),
        )

    @admin.display(description="Pre-dial check URL for Blu's console")
    def predial_url(self, obj: BluAccount) -> str:
        if not obj.pk:
            return "(shown once saved)"
        return format_html(
            '<code>{}</code><br><span class="help">Blu asks here before each call whether to '
            "go ahead (the stop list answers). A token of its own: it can only ask, never write "
            "calls. After regenerating it, enter the new one in Blu's console: until then Blu's "
            "checks are refused.</span>",
            obj.predial_url(),
        )

    # --- saving, with the audit trail ------------------------------------------------------------

    # Django's report of a 500 (emailed to ADMINS, or logged without a mail server) lists the
    # POST data: the typed app key is starred out there.
    @method_decorator(sensitive_post_parameters("app_key"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        changed = list(form.changed_data)
        if not change:
            obj.save()
            trail.account_added(obj, request)
            return
        # Only what this form changed: a key rotation, a regenerated callback token or the sync's
        # health counters written since the form was opened stay as they are.
        fields = [name for name in changed if name != "app_key"]
        if "app_key" in changed:
            fields += _KEY_FIELDS
        if not fields:
            return
        obj.save(update_fields=fields)
        if "time_zone" in changed:
            # Blu's times carry no zone: every stored time was read in the old one.
            reread.request_reread(obj)
            tasks.enqueue_reread_on_commit(obj.pk)
            messages.info(
                request,
                f"The stored calls of {obj.name} will be re-read in {obj.time_zone}: their times "
                "and every figure built on them change as the re-read goes (minutes for a "
                "large account).",
            )
        if "borrower_keys" in changed:
            tasks.enqueue_borrower_relink_on_commit(obj.pk)
            messages.info(
                request,
                f"The stored calls of {obj.name} will be linked to borrowers by the new keys "
                "(minutes for a large account).",
            )
        details: dict[str, Any] = {"fields": changed}
        if "name" in changed:
            details["renamed_from"] = form.initial.get("name", "")
        trail.record(Action.ACCOUNT_CHANGED, request, target=obj.name, **details)
        if "app_key" in changed:
            trail.record(Action.APP_KEY_REPLACED, request, target=obj.name)
        if "is_polled" in changed:
            enabled = Action.ACCOUNT_ENABLED if obj.is_polled else Action.ACCOUNT_DISABLED
            trail.record(enabled, request, target=obj.name)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        for formset in formsets:
            if formset.model is not ContactLimits or not formset.has_changed():
                continue
            changed = sorted({name for f in formset.forms for name in f.changed_data})
            saved = formset.forms[0].instance
            trail.record(
                Action.ACCOUNT_CHANGED,
                request,
                target=form.instance.name,
                fields=[f"contact_limits.{name}" for name in changed],
                contact_limits={name: _shown(getattr(saved, name)) for name in changed},
            )
            if change:
                tasks.enqueue_limits_recheck_on_commit(form.instance.pk)
                messages.info(
                    request,
                    f"The stored calls of {form.instance.name} will be flagged again against "
                    "the new contact limits (minutes for a large account).",
                )

    def delete_model(self, request, obj):
        # Only an account without tasks can go (their calls protect it); say who removed it.
        name, app_id = obj.name, obj.app_id
        super().delete_model(request, obj)
        trail.record(Action.ACCOUNT_DELETED, request, target=name, app_id=app_id)

    def delete_queryset(self, request, queryset):
        gone = list(queryset.values_list("name", "app_id"))
        super().delete_queryset(request, queryset)
        for name, app_id in gone:
            trail.record(Action.ACCOUNT_DELETED, request, target=name, app_id=app_id)

    # --- enable and disable ----------------------------------------------------------------------

    @admin.action(description="Disable: stop polling and refuse callbacks", permissions=["change"])
    def disable_accounts(self, request: HttpRequest, queryset: QuerySet[BluAccount]) -> None:
        self._set_enabled(request, queryset, enabled=False)

    @admin.action(description="Enable: poll and accept callbacks", permissions=["change"])
    def enable_accounts(self, request: HttpRequest, queryset: QuerySet[BluAccount]) -> None:
        self._set_enabled(request, queryset, enabled=True)

    def _set_enabled(self, request, queryset, *, enabled: bool) -> None:
        # The same function as `manage.py blu account disable|enable`: audited alike.
        accounts = operations.set_accounts_enabled(queryset, enabled=enabled, request=request)
        for account in accounts:
            self.log_change(request, account, [{"changed": {"fields": ["enabled"]}}])
        word = "Enabled" if enabled else "Disabled"
        if accounts:
            names = ", ".join(a.name for a in accounts)
            count = len(accounts)
            self.message_user(request, f"{word} {count} account{pluralize(count)}: {names}.")
        else:
            self.message_user(request, f"{word}: the accounts chosen were so already.")

    # --- test connection -------------------------------------------------------------------------

    @admin.action(description="Test connection", permissions=["change"])
    def test_connection(
        self, request: HttpRequest, queryset: QuerySet[BluAccount]
    ) -> HttpResponse | None:
        return self._test_connections(request, list(queryset), single=False)

    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        account = self._changeable(request, object_id)
        if request.method == "POST":
            response = self._test_connections(request, [account], single=True)
            if response is not None:
                return response
            return HttpResponseRedirect(self._change_url(account))
        latest = connection.latest_task_id(account)
        form = TaskIdForm(prefix=f"account-{account.pk}", initial={"task_id": latest})
        return self._task_id_page(request, [account], [(account, form)], single=True)

    def _test_connections(
        self, request: HttpRequest, accounts: list[BluAccount], *, single: bool
    ) -> HttpResponse | None:
        """Test each account with its newest task, or with the task id typed in for it; an
        account that has neither gets a page asking for one, and nothing is tested yet."""
        task_ids: dict[int, str] = {}
        asking: list[tuple[BluAccount, TaskIdForm]] = []
        for account in accounts:
            prefix = f"account-{account.pk}"
            if f"{prefix}-task_id" in request.POST:
                form = TaskIdForm(request.POST, prefix=prefix)
                if form.is_valid():
                    task_ids[account.pk] = form.cleaned_data["task_id"]
                    continue
            elif (latest := connection.latest_task_id(account)) is not None:
                task_ids[account.pk] = latest
                continue
            else:
                form = TaskIdForm(prefix=prefix)
            asking.append((account, form))
        if asking:
            return self._task_id_page(request, accounts, asking, single=single)
        for account in accounts:
            result = connection.test_connection(account, task_ids[account.pk], request)
            if result.ok:
                level = messages.SUCCESS
            elif result.credentials_accepted:
                level = messages.WARNING  # the key is right; only the task id is not Blu's
            else:
                level = messages.ERROR
            self.message_user(request, f"Account {account.name}: {result.message}", level)
        return None

    def _task_id_page(self, request, accounts, asking, *, single: bool) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Test the connection to Blu",
            "accounts": accounts,
            "asking": asking,
            "single": single,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/calls/bluaccount/test_connection.html", context)

    # --- regenerate the callback or pre-dial URL -------------------------------------------------

    @admin.action(description="Regenerate callback URL", permissions=["change"])
    def regenerate_callback_urls(
        self, request: HttpRequest, queryset: QuerySet[BluAccount]
    ) -> HttpResponse | None:
        return self._regenerate_action(request, queryset, CALLBACK)

    @admin.action(description="Regenerate pre-dial URL", permissions=["change"])
    def regenerate_predial_urls(
        self, request: HttpRequest, queryset: QuerySet[BluAccount]
    ) -> HttpResponse | None:
        return self._regenerate_action(request, queryset, PREDIAL)

    def _regenerate_action(self, request, queryset, url: TokenUrl) -> HttpResponse | None:
        accounts = list(queryset)
        if request.POST.get("post") != "yes":
            return self._regenerate_page(request, accounts, url, single=False)
        for account in accounts:
            self._regenerate(request, account, url)
        return None

    def regenerate_callback_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._regenerate_view(request, object_id, CALLBACK)

    def regenerate_predial_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._regenerate_view(request, object_id, PREDIAL)

    def _regenerate_view(self, request, object_id: str, url: TokenUrl) -> HttpResponse:
        account = self._changeable(request, object_id)
        if request.method != "POST":
            return self._regenerate_page(request, [account], url, single=True)
        self._regenerate(request, account, url)
        return HttpResponseRedirect(self._change_url(account))

    def _regenerate(self, request: HttpRequest, account: BluAccount, url: TokenUrl) -> None:
        setattr(account, url.field, new_callback_token())
        account.save(update_fields=[url.field])
        trail.record(url.action, request, target=account.name)
        self.log_change(request, account, f"Regenerated the {url.name}.")
        self.message_user(
            request,
            f"Account {account.name}: the {url.name} is new and the old one answers 404. Enter "
            "the new one (shown on the account's page) in Blu's console.",
            messages.WARNING,
        )

    def _regenerate_page(self, request, accounts, url: TokenUrl, *, single: bool):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Regenerate the {url.name}?",
            "url": url,
            "accounts": accounts,
            "single": single,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/calls/bluaccount/regenerate_callback.html", context)

    # --- plumbing --------------------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        own = [
            path(
                "<path:object_id>/test-connection/",
                view(self.test_connection_view),
                name="{}_{}_test_connection".format(*info),
            ),
            path(
                "<path:object_id>/regenerate-callback/",
                view(self.regenerate_callback_view),
                name="{}_{}_regenerate_callback".format(*info),
            ),
            path(
                "<path:object_id>/regenerate-predial/",
                view(self.regenerate_predial_view),
                name="{}_{}_regenerate_predial".format(*info),
            ),
        ]
        # Ahead of the admin's own: its "<object_id>/" catch-all would take these paths.
        return own + super().get_urls()

    def _changeable(self, request: HttpRequest, object_id: str) -> BluAccount:
        account = self.get_object(request, unquote(object_id))
        if account is None:
            raise Http404("No such Blu account")
        if not self.has_change_permission(request, account):
            raise PermissionDenied
        return account

    def _change_url(self, account: BluAccount) -> str:
        return reverse("admin:calls_bluaccount_change", args=[account.pk])


def _summary(details: dict[str, Any]) -> str:
    parts = []
    for key, value in details.items():
        if value is None:
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        parts.append(f"{key}: {shown}")
    return Truncator("; ".join(parts)).chars(120)


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

    def has_add_permission(self, request) -> bool:
        # Tasks are registered on the Tasks page (or with `blu task add`), which queues their
        # first sync and audits each: a task added here would wait for the next poll, unrecorded.
        return False


def _set_flags(conclusion: Conclusion) -> list[str]:
    """The flags a code carries, classified included: what deleting it changes."""
    return [name for name in ("classified", *FLAG_NAMES) if getattr(conclusion, name)]


@admin.register(Conclusion)
class ConclusionAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "label",
        "classified",
        *FLAG_NAMES,
    ]
    list_filter = ["classified"]
    search_fields = ["code", "label"]

    def has_delete_permission(self, request, obj=None) -> bool:
        """Admins may delete a code outside Blu's dictionaries that no call has (one a callback
        made up, say); superusers any code. Deleting a code in use would turn its calls
        unclassified, and one of Blu's own would come back at the next migrate."""
        if not super().has_delete_permission(request, obj):
            return False
        if obj is None or request.user.is_superuser:
            return True
        return obj.code not in DICTIONARY and not CallRecord.objects.filter(code=obj.code).exists()

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            # The bulk action asks has_delete_permission about no code in particular: admins
            # delete one code at a time, from its page.
            actions.pop("delete_selected", None)
        return actions

    # Every rate is built from these flags: each save or delete here updates every task's flag
    # counts in the same transaction, as the Conclusions page does. The promises, complaints
    # and contact limits are made from some of them: a code that gains or loses one, or goes
    # while it has one, queues their rebuild once committed (the jobs read the calls of every
    # account: not in the request).
    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        summaries.apply_conclusion_flags()
        tasks.enqueue_rebuilds_on_commit([(obj, form.changed_data)])

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        summaries.apply_conclusion_flags()
        tasks.enqueue_rebuilds_on_commit([(obj, _set_flags(obj))])

    def delete_queryset(self, request, queryset) -> None:
        deleted = list(queryset)
        super().delete_queryset(request, queryset)
        summaries.apply_conclusion_flags()
        tasks.enqueue_rebuilds_on_commit([(each, _set_flags(each)) for each in deleted])


@admin.register(RepaymentToken)
class RepaymentTokenAdmin(admin.ModelAdmin):
    """Tokens of the lender's repayments endpoint: made here and shown once, then only their
    first letters; revoked, never edited (a leaked token is replaced by a new one)."""

    list_display = ["name", "account", "hint", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["hint", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ["name", "account", *self.readonly_fields]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        token = repayment_tokens.issue(obj)
        obj.created_by = request.user
        super().save_model(request, obj, form, change)
        trail.record(
            Action.REPAYMENT_TOKEN_CREATED,
            request,
            target=obj.name,
            account=obj.account.name,
            hint=obj.hint,
        )
        messages.warning(
            request,
            format_html(
                'The token for {}, shown this once: <code id="new-token">{}</code>. '
                "Send it as <code>Authorization: Bearer …</code> to {}.",
                obj.name,
                token,
                reverse("calls:repayment_api"),
            ),
        )

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        # One by one, each only if still unrevoked: two admins revoking at once audit it once.
        done = 0
        for record in queryset.filter(revoked_at__isnull=True).select_related("account"):
            if RepaymentToken.objects.filter(pk=record.pk, revoked_at__isnull=True).update(
                revoked_at=timezone.now()
            ):
                done += 1
                trail.record(
                    Action.REPAYMENT_TOKEN_REVOKED,
                    request,
                    target=record.name,
                    account=record.account.name,
                    hint=record.hint,
                )
        self.message_user(request, f"Revoked {done} token{pluralize(done)}.")


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


class ByDate(admin.DateFieldListFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "date"  # not the field's name, "at"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Who did what: read by admins, written only by calls/audit/trail.py."""

    list_display = ["at", "username", "action", "target", "ip", "details_summary"]
    list_filter = ["action", ("at", ByDate)]
    search_fields = ["username", "target"]
    show_full_result_count = False

    @admin.display(description="details")
    def details_summary(self, obj: AuditEvent) -> str:
        return _summary(obj.details)
