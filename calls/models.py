"""Blu accounts, tasks, call records, conclusions and sync runs.

bludash is the system of record: Blu forgets calls after 45 days, we never do. Nothing here is
deleted or blanked because Blu stopped returning it.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from datetime import time
from urllib.parse import urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.files.storage import Storage, storages
from django.core.validators import MinValueValidator
from django.db import connection, models
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone

from calls.blu.client import Credentials
from calls.conclusions import categories
from calls.security import crypto


def new_callback_token() -> str:
    return secrets.token_urlsafe(32)


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone such as Asia/Colombo") from None


def default_time_zone() -> str:
    return settings.TIME_ZONE


# An extVars key name as lenders name them (uniqueId, customer_no, id.card): no spaces, no quotes.
BORROWER_KEY_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_BORROWER_KEYS = 8


def borrower_key_names(value: str) -> list[str]:
    """The extVars key names in a comma-separated list, in order, blanks dropped."""
    return [name.strip() for name in value.split(",") if name.strip()]


def validate_borrower_keys(value: str) -> None:
    names = borrower_key_names(value)
    bad = [name for name in names if not BORROWER_KEY_NAME.fullmatch(name)]
    if bad:
        raise ValidationError(
            f"{bad[0][:40]!r} is not an extVars key name: letters, digits, '_', '.' or '-', "
            "names separated by commas (e.g. uniqueId, customerNo)"
        )
    if len(names) > MAX_BORROWER_KEYS:
        raise ValidationError(f"At most {MAX_BORROWER_KEYS} key names.")
    if len(set(names)) != len(names):
        raise ValidationError("A key name is listed twice.")


def normalized_base_url(url: str) -> str:
    """The form a base URL is stored in: scheme and host in lower case, no trailing slash, so one
    Blu endpoint typed two ways is still recognised as one."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), parts.netloc.lower()
    default_port = {"https": ":443", "http": ":80"}.get(scheme)
    if default_port and host.endswith(default_port):
        host = host.removesuffix(default_port)
    return urlunsplit((scheme, host, parts.path.rstrip("/"), parts.query, ""))


TWICE = (
    "Blu account {other} already has this base URL and appId: registering them twice would "
    "store every call twice and double every total."
)


class BluAccount(models.Model):
    """One set of Blu API credentials (one merchant). The app key is stored encrypted."""

    name = models.SlugField(max_length=64, unique=True, help_text="Short name, e.g. 'collections'")
    base_url = models.URLField(help_text="The API base URL Blu gave this account")
    app_id = models.CharField("appId", max_length=64)
    app_key_encrypted = models.TextField(editable=False)
    time_zone = models.CharField(
        max_length=64,
        default=default_time_zone,
        validators=[validate_time_zone],
        help_text="The merchant's time zone: Blu's times carry none",
    )
    is_polled = models.BooleanField(
        "enabled",
        default=True,
        help_text="Off: the account is neither polled nor accepts callbacks; its calls stay",
    )
    callback_token = models.CharField(max_length=64, unique=True, default=new_callback_token)
    # Blu's pre-dial check (calls/endpoints/predial.py) has a URL of its own: whoever holds the
    # callback's can write calls, whoever holds this one can only ask who may be called.
    predial_token = models.CharField(max_length=64, unique=True, default=new_callback_token)
    created_at = models.DateTimeField(auto_now_add=True)
    # The last characters of the app key, so an admin can tell which key is stored without it
    # ever being shown: the key itself is only ever decrypted to sign a request.
    app_key_hint = models.CharField(max_length=8, blank=True, editable=False)
    app_key_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Sync health of the account as a whole (calls/health/alerts.py keeps these).
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    failure_alert_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Re-reading the stored calls (calls/ingest/reread.py) after the time zone or the reader
    # changed: the next call id to re-read, or None when nothing is pending. A re-read that
    # stops goes on from here.
    reread_from_pk = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    # Which extVars keys name the borrower on this account's calls (calls/ingest/borrowers.py).
    borrower_keys = models.CharField(
        "borrower keys",
        max_length=300,
        blank=True,
        validators=[validate_borrower_keys],
        help_text="extVars keys that identify the borrower, tried in order, separated by commas "
        "(e.g. uniqueId, customerNo). Empty: BLUDASH_BORROWER_KEYS. Blu's userId is the "
        "fallback when none is present. After a change, run `blu borrowers backfill --relink`.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            # One Blu account is one merchant's calls: a second registration would fetch (and
            # count) every call again under another account.
            models.UniqueConstraint(
                fields=["base_url", "app_id"],
                name="account_unique_blu_identity",
                violation_error_message="Another Blu account has this base URL and appId.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.base_url = normalized_base_url(self.base_url)
        # URLField takes ftp:// too; Blu is only ever reached over HTTP, and any other scheme
        # would fail every sync as if Blu were down. (A URL without a scheme is the field's.)
        scheme = urlsplit(self.base_url).scheme
        if scheme and scheme not in ("https", "http"):
            raise ValidationError(
                {"base_url": f"Blu's API is reached over https:// or http://, not {scheme}://."},
                code="scheme",
            )
        self.app_id = self.app_id.strip()
        other = (
            BluAccount.objects.filter(base_url=self.base_url, app_id=self.app_id)
            .exclude(pk=self.pk)
            .values_list("name", flat=True)
            .first()
        )
        if other is not None:
            raise ValidationError(TWICE.format(other=other), code="twice")

    def validate_constraints(self, exclude=None) -> None:
        # clean() has checked (base URL, appId) with a message naming the other account; the
        # constraint's own would say the same thing twice. The database still enforces it.
        super().validate_constraints(exclude={*(exclude or ()), "app_id"})

    def set_app_key(self, app_key: str) -> None:
        self.app_key_encrypted = crypto.encrypt(app_key)
        self.app_key_hint = crypto.hint(app_key)
        self.app_key_changed_at = timezone.now()

    @property
    def masked_app_key(self) -> str:
        if not self.app_key_encrypted:
            return "(none)"
        return "\u2022" * 8 + self.app_key_hint

    def credentials(self) -> Credentials:
        """What the client needs; raises crypto.AppKeyUnreadable naming this account."""
        return Credentials(
            account=self.name,
            base_url=self.base_url,
            app_id=self.app_id,
            app_key=crypto.decrypt(self.app_key_encrypted, self.name),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def borrower_key_list(self) -> list[str]:
        """The extVars keys tried in order: this account's own, else the setting's."""
        return borrower_key_names(self.borrower_keys) or list(settings.BLUDASH_BORROWER_KEYS)

    def callback_url(self) -> str:
        path = reverse("calls:blu_callback", kwargs={"token": self.callback_token})
        return settings.BLUDASH_PUBLIC_URL + path

    def predial_url(self) -> str:
        path = reverse("calls:blu_predial", kwargs={"token": self.predial_token})
        return settings.BLUDASH_PUBLIC_URL + path


# Most recently dialled first, tasks without calls yet last, the newest task first among ties:
# in the order of task_recent_idx. "IS NULL" first and a plain DESC say "nulls last" in a form
# both PostgreSQL's and SQLite's indexes can hold (neither of SQLite's takes NULLS LAST).
TASKS_NEWEST_FIRST = (
    models.ExpressionWrapper(
        models.Q(last_call_at__isnull=True), output_field=models.BooleanField()
    ),
    models.F("last_call_at").desc(),
    models.F("id").desc(),
)


class Task(models.Model):
    """A Blu task (one day's call list). Summary counts are refreshed by every sync."""

    account = models.ForeignKey(BluAccount, on_delete=models.PROTECT, related_name="tasks")
    blu_task_id = models.CharField("Blu task id", max_length=64)
    name = models.CharField(max_length=200, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    is_polled = models.BooleanField("polled", default=True)
    # Null: due at every poll. A quiet task (all calls ended, nothing new) waits until then.
    next_poll_at = models.DateTimeField(null=True, blank=True)

    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_ok = models.BooleanField(null=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # Syncs in a row that Blu answered it knows no task by this id (calls/ingest/unknown_tasks.py):
    # asked again at growing intervals, then no longer polled until a person asks for it again.
    blu_unknown_tries = models.PositiveIntegerField(default=0)
    # First named by a callback, not by a person: callbacks may add only so many tasks an hour
    # (calls/ingest/callback_tasks.py).
    learned_from_callback = models.BooleanField(default=False)
    # The start of the oldest call still in progress (refreshed with the summary): a call Blu has
    # not finished for a day is stuck, and admins see it on the sync-health page.
    oldest_open_call_at = models.DateTimeField(null=True, blank=True)
    # The sync lease: who syncs this task now, and until when that claim holds if not renewed.
    sync_owner = models.CharField(max_length=64, blank=True)
    sync_lease_until = models.DateTimeField(null=True, blank=True)

    calls_total = models.PositiveIntegerField(default=0)
    calls_final = models.PositiveIntegerField(default=0)
    calls_answered = models.PositiveIntegerField(default=0)
    talk_seconds = models.PositiveBigIntegerField(default=0)
    first_call_at = models.DateTimeField(null=True, blank=True)
    last_call_at = models.DateTimeField(null=True, blank=True)
    code_counts = models.JSONField(default=dict, blank=True)
    # Derived from code_counts and the conclusions' flags (calls/ingest/summaries.py), kept as
    # columns so the tasks table can sort by rate; recomputed when a manager reclassifies a code.
    calls_connected = models.PositiveIntegerField(default=0)
    calls_right_party = models.PositiveIntegerField(default=0)
    calls_promised = models.PositiveIntegerField(default=0)
    median_talk_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-first_seen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "blu_task_id"], name="task_unique_per_account"
            )
        ]
        indexes = [
            models.Index(fields=["is_polled", "account"], name="task_polled_idx"),
            models.Index(fields=["-last_call_at"], name="task_last_call_idx"),
            # The tasks list's order (TASKS_NEWEST_FIRST): read from the index, not a sort of
            # every task. Undialled tasks (no last call) after the rest, on every database.
            models.Index(*TASKS_NEWEST_FIRST, name="task_recent_idx"),
            # The sync-health strip (calls/health/sync_health.py) on the overview and the tasks
            # page: every task's counts per account from this narrow index alone, and its few
            # failing tasks and its stalest task as the first rows of the two partial ones.
            models.Index(
                fields=["account", "is_polled", "last_sync_ok"],
                include=["last_success_at", "last_sync_at", "id"],
                name="task_health_idx",
            ),
            models.Index(
                fields=["-last_sync_at", "-id"],
                condition=models.Q(is_polled=True, last_sync_ok=False),
                name="task_failing_idx",
            ),
            models.Index(
                fields=["last_success_at", "id"],
                condition=models.Q(is_polled=True, last_success_at__isnull=False),
                name="task_stalest_idx",
            ),
            # The tasks an account's callbacks added in the last hour, counted per new task.
            models.Index(
                fields=["account", "first_seen_at"],
                condition=models.Q(learned_from_callback=True),
                name="task_from_callback_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"Task {self.blu_task_id}"

    def get_absolute_url(self) -> str:
        return reverse("calls:task_detail", kwargs={"pk": self.pk})

    @property
    def average_talk_seconds(self) -> float | None:
        return self.talk_seconds / self.calls_answered if self.calls_answered else None

    @property
    def unknown_to_blu(self) -> bool:
        """Blu's last answers said it knows no task by this id (still retried, or stopped)."""
        return self.blu_unknown_tries > 0

    @property
    def stopped_as_unknown(self) -> bool:
        """No longer polled because Blu said, try after try, that it knows no such task."""
        return self.unknown_to_blu and not self.is_polled


# Calls with a talk time that counts: answered and ended (Blu reports a call still talking with
# duration 0). The median talk time is over these; an index holds just them.
TALKED = models.Q(answer_time__isnull=False, duration__isnull=False) & (
    models.Q(end_time__isnull=False) | ~models.Q(code="")
)


class Borrower(models.Model):
    """A person who owes, as one account's calls name them: by the first extVars key of the
    account's list present on a call, else Blu's userId (which names an upload row, so such a
    borrower is one row of one task's list, not a person across tasks). Kept current by every
    write of calls (calls/ingest/borrowers.py): what the newest call said, the first and last
    call, and the sort value of the calls in the last 7 days."""

    USER_ID = "userId"
    # The fallback's keys are kept apart from the lender's: Blu's upload-row id 17 is not the
    # lender's borrower 17.
    USER_ID_PREFIX = "userId:"

    account = models.ForeignKey(BluAccount, on_delete=models.PROTECT, related_name="borrowers")
    key = models.CharField(max_length=200)
    key_source = models.CharField(max_length=64, help_text="The extVars key, or userId")
    name = models.TextField(blank=True)
    order_id = models.CharField("orderId", max_length=200, blank=True)
    phone = models.TextField(blank=True, help_text="Masked by Blu, as Blu sent it")
    # The name in lower case: what a search by the start of a name compares, through its index.
    search_name = models.TextField(blank=True, editable=False)
    first_call_at = models.DateTimeField(null=True, blank=True)
    last_call_at = models.DateTimeField(null=True, blank=True)
    # What the borrower list sorts by: the pages show the count made at read from the calls'
    # index. Recounted when a write touches the borrower, and by `blu borrowers refresh` once
    # the oldest call counted leaves the window (calls_7d_until).
    calls_7d = models.PositiveIntegerField(default=0)
    calls_7d_until = models.DateTimeField(null=True, blank=True)
    # The newest right-party call's start: what a hold-off after a conversation counts from
    # (calls/limits/), kept by every write of calls, so the list filters on it by an index.
    last_right_party_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-last_call_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="borrower_unique_per_account")
        ]
        indexes = [
            # Found by key (the page) and by prefix (the search): LIKE 'x%' needs pattern ops.
            models.Index(
                fields=["key"], opclasses=["varchar_pattern_ops"], name="borrower_key_idx"
            ),
            models.Index(fields=["-last_call_at", "-id"], name="borrower_last_call_idx"),
            models.Index(fields=["-calls_7d", "-id"], name="borrower_calls_7d_idx"),
            models.Index(
                fields=["calls_7d_until"],
                condition=models.Q(calls_7d_until__isnull=False),
                name="borrower_7d_until_idx",
            ),
            models.Index(
                fields=["order_id"], opclasses=["varchar_pattern_ops"], name="borrower_order_idx"
            ),
            models.Index(
                fields=["phone"], opclasses=["text_pattern_ops"], name="borrower_phone_idx"
            ),
            models.Index(
                fields=["search_name"], opclasses=["text_pattern_ops"], name="borrower_name_idx"
            ),
            # Those in a hold-off after a conversation (the list's filter at a limit).
            models.Index(
                fields=["account", "-last_right_party_at"],
                condition=models.Q(last_right_party_at__isnull=False),
                name="borrower_right_party_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.key

    def get_absolute_url(self) -> str:
        return borrower_url(self.key, self.account_id)


def borrower_url(key: str, account_pk: int | None = None) -> str:
    """The page of a borrower key: a lender's key is one person across accounts; Blu's userId
    names a row of one account's upload, so its page is that account's alone."""
    url = reverse("calls:borrower_detail", kwargs={"key": key})
    if key.startswith(Borrower.USER_ID_PREFIX) and account_pk is not None:
        url += "?" + urlencode({"account": account_pk})
    return url


class CallRecord(models.Model):
    """One call as Blu reported it last, with the raw record kept whole."""

    account = models.ForeignKey(BluAccount, on_delete=models.PROTECT, related_name="calls")
    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="calls")
    call_id = models.CharField("callId", max_length=64)
    job_id = models.CharField("jobId", max_length=64, blank=True)
    user_id = models.CharField("userId", max_length=64, blank=True)
    phone = models.TextField(blank=True, help_text="Masked by Blu")
    name = models.TextField(blank=True)
    status = models.IntegerField(null=True, blank=True)
    code = models.CharField("conclusion code", max_length=64, blank=True)
    desc = models.TextField("description", blank=True)
    strategy_id = models.CharField("strategyId", max_length=64, blank=True)
    bot_id = models.CharField("botId", max_length=64, blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    answer_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    duration = models.PositiveIntegerField("talk seconds", null=True, blank=True)
    record_url = models.TextField("recording", blank=True)
    ext_vars = models.JSONField(null=True, blank=True, help_text="extVars, when it was valid JSON")
    ext_vars_raw = models.TextField(blank=True, help_text="extVars as received, when it was not")
    script = models.JSONField(null=True, blank=True)
    slots = models.JSONField(null=True, blank=True)
    raw = models.JSONField(help_text="The record as Blu sent it")
    problems = models.JSONField(
        default=list, blank=True, help_text="Fields Blu sent in a form we could not read"
    )
    content_hash = models.CharField(max_length=64)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_changed_at = models.DateTimeField(default=timezone.now)
    # Set by every write path (calls/ingest/borrowers.py), not by the call upsert itself.
    borrower = models.ForeignKey(
        Borrower,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="calls",
        db_index=False,  # the timeline index below leads with it
    )

    class Meta:
        ordering = ["-start_time", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "call_id"], name="call_unique_per_account")
        ]
        indexes = [
            models.Index(fields=["task", "-start_time"], name="call_task_start_idx"),
            models.Index(fields=["code", "-start_time"], name="call_code_start_idx"),
            models.Index(fields=["-start_time"], name="call_start_idx"),
            models.Index(fields=["account", "-start_time"], name="call_account_start_idx"),
            # A borrower's timeline, their calls in a window, their last right-party contact.
            models.Index(fields=["borrower", "-start_time"], name="call_borrower_start_idx"),
            # A task's oldest call still in progress (health's "stuck"), found after every write
            # without reading the task's finished calls.
            models.Index(
                fields=["task", "start_time"],
                condition=models.Q(end_time__isnull=True, code=""),
                name="call_open_idx",
            ),
            # A task's median talk time after every callback of an answered call: counted and
            # found in this index alone, however many of the task's calls are unanswered.
            models.Index(
                fields=["task", "duration"],
                condition=TALKED,
                name="call_talk_idx",
            ),
        ]
        permissions = [
            ("export_callrecord", "Can export calls to CSV and XLSX"),
            ("view_raw_callrecord", "Can see the raw record Blu sent"),
        ]

    def __str__(self) -> str:
        return f"Call {self.call_id}"

    @property
    def is_final(self) -> bool:
        return self.end_time is not None or bool(self.code)

    @property
    def limits_broken(self) -> list[str]:
        """The contact limits this call broke (calls/limits/); load `limit_breach` with it."""
        try:
            breach = self.limit_breach  # type: ignore[attr-defined]
        except ObjectDoesNotExist:
            return []
        return breach.labels()


class Conclusion(models.Model):
    """What a conclusion code means. Codes are per robot; an unknown one is added unclassified."""

    code = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=200)
    classified = models.BooleanField(
        default=True, help_text="Off for codes that arrived unknown and nobody has classified yet"
    )
    connected = models.BooleanField(default=False, help_text="The line was answered")
    live_person = models.BooleanField(default=False, help_text="A person spoke")
    right_party = models.BooleanField(default=False, help_text="The borrower spoke")
    promise_to_pay = models.BooleanField(default=False)
    already_paid = models.BooleanField(default=False)
    complaint = models.BooleanField(default=False, help_text="Complaint risk")
    # Which account's records brought the code, and when (page_writer.learn_codes): each account
    # may add only so many codes a day. Empty for Blu's reference codes and codes added by hand.
    learned_from = models.ForeignKey(
        BluAccount,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    learned_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.label})"

    @classmethod
    def by_code(cls) -> dict[str, Conclusion]:
        """Every conclusion by its code: what the rates and the summaries' flag counts read."""
        return {conclusion.code: conclusion for conclusion in cls.objects.all()}

    @property
    def category(self) -> str:
        """The most specific thing this code says about a call: how the filters group codes."""
        return categories.category(self)


class DayCounts(models.Model):
    """What a day row counts of one conclusion code: calls, answered calls, talk time."""

    code = models.CharField(
        max_length=64, blank=True, help_text="Empty while calls are in progress"
    )
    calls = models.PositiveIntegerField(default=0)
    answered = models.PositiveIntegerField(default=0)
    talk_seconds = models.PositiveBigIntegerField(default=0)

    class Meta:
        abstract = True


class TaskDaySummary(DayCounts):
    """A task's calls on one day (company time zone) with one conclusion code, kept current by
    every write of its calls (calls/ingest/summaries.py). The overview and the outcome
    breakdowns sum these few rows instead of scanning millions of calls. Calls Blu reported no
    readable start time for are counted on a row without a day ("undated"), so a task's rows
    always add up to its totals."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="day_summaries")
    account = models.ForeignKey(BluAccount, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(null=True, blank=True, help_text="Empty for calls without a start time")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "day", "code"], name="daysummary_unique"),
            # NULLs are distinct in a unique constraint: the undated row needs its own.
            models.UniqueConstraint(
                fields=["task", "code"],
                condition=models.Q(day__isnull=True),
                name="daysummary_undated_unique",
            ),
        ]
        indexes = [models.Index(fields=["day", "code"], name="daysummary_day_idx")]

    def __str__(self) -> str:
        day = self.day or "no day"
        return f"{self.task} on {day}: {self.calls} x {self.code or 'in progress'}"


class AccountDaySummary(DayCounts):
    """An account's calls on one day (company time zone) with one conclusion code, over all its
    tasks: the sum of its tasks' dated TaskDaySummary rows, kept by the same writes in the same
    transactions (calls/ingest/summaries.py). The overview sums these, a few dozen rows a day,
    instead of every task's day rows. Undated calls have no row here (TaskDaySummary counts
    them)."""

    account = models.ForeignKey(BluAccount, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "day", "code"], name="accountday_unique")
        ]
        indexes = [models.Index(fields=["day", "code"], name="accountday_day_idx")]

    def __str__(self) -> str:
        return f"{self.account} on {self.day}: {self.calls} x {self.code or 'in progress'}"


class AccountHourSummary(models.Model):
    """An account's calls that started in one hour of one day (both in the company's time zone)
    with one conclusion code: what "When calls work" (calls/dashboard/hours.py) sums by weekday
    and hour. Kept by the same writes as the day rows, in the same transactions
    (calls/ingest/summaries.py); per code, as the day rows are, so a reclassified code moves the
    rates read from it without touching a row. Undated calls have no row here. Some ten thousand
    rows a month per account whatever the number of calls (days x calling hours x codes)."""

    account = models.ForeignKey(BluAccount, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    code = models.CharField(
        max_length=64, blank=True, help_text="Empty while calls are in progress"
    )
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "day", "hour", "code"], name="accounthour_unique"
            ),
            models.CheckConstraint(condition=models.Q(hour__lte=23), name="accounthour_hour"),
        ]
        indexes = [models.Index(fields=["day"], name="accounthour_day_idx")]

    def __str__(self) -> str:
        return f"{self.account} on {self.day} at {self.hour:02}: {self.calls} x {self.code}"


class StatusLabel(models.Model):
    """What a call `status` value means. Blu publishes none: admins name the values they learn."""

    value = models.IntegerField(unique=True)
    label = models.CharField(max_length=100)

    class Meta:
        ordering = ["value"]

    def __str__(self) -> str:
        return f"{self.value} ({self.label})"


class SyncRun(models.Model):
    """One attempt to sync one task: what it fetched and wrote, and how it ended."""

    class Outcome(models.TextChoices):
        RUNNING = "running"
        OK = "ok"
        FAILED = "failed"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="sync_runs")
    trigger = models.CharField(max_length=16, default="manual")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    pages = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    skip_reasons = models.JSONField(default=dict, blank=True)
    problems = models.JSONField(
        default=dict, blank=True, help_text="Fields stored empty because they were unreadable"
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["task", "-started_at"], name="syncrun_task_idx")]

    def __str__(self) -> str:
        return f"Sync of {self.task} at {self.started_at:%Y-%m-%d %H:%M}"


class AuditEvent(models.Model):
    """Who did what that matters for security: sign-ins, credential changes, exports, recordings.
    Written by calls/audit/trail.py; never edited, kept when the user is deleted."""

    class Action(models.TextChoices):
        SIGN_IN = "sign_in", "signed in"
        SIGN_IN_FAILED = "sign_in_failed", "failed to sign in"
        SIGN_IN_LOCKED = "sign_in_locked", "locked out after failed sign-ins"
        SIGN_OUT = "sign_out", "signed out"
        ACCOUNT_ADDED = "account_added", "added a Blu account"
        ACCOUNT_CHANGED = "account_changed", "changed a Blu account"
        ACCOUNT_DISABLED = "account_disabled", "disabled a Blu account"
        ACCOUNT_ENABLED = "account_enabled", "enabled a Blu account"
        ACCOUNT_DELETED = "account_deleted", "deleted a Blu account"
        APP_KEY_REPLACED = "app_key_replaced", "replaced an app key"
        KEYS_ROTATED = "keys_rotated", "re-encrypted the app keys"
        TOKEN_REGENERATED = "token_regenerated", "regenerated a callback token"
        PREDIAL_TOKEN_REGENERATED = "predial_token_regenerated", "regenerated a pre-dial token"
        CONNECTION_TESTED = "connection_tested", "tested a Blu connection"
        EXPORT = "export", "exported calls"
        EXPORT_DOWNLOADED = "export_downloaded", "downloaded an exported file"
        RECORDING_PLAYED = "recording_played", "played a recording"
        TASK_REGISTERED = "task_registered", "registered a Blu task"
        REPAYMENT_TOKEN_CREATED = "repayment_token_created", "made a repayments API token"
        REPAYMENT_TOKEN_REVOKED = "repayment_token_revoked", "revoked a repayments API token"
        REPAYMENTS_IMPORTED = "repayments_imported", "imported repayments through the API"
        COMPLAINT_CHANGED = "complaint_changed", "changed a complaint"
        STOP_LIST_EXPORTED = "stop_list_exported", "exported the stop list"
        REVIEW_DRAWN = "review_drawn", "drew the calls to review"
        REVIEW_MARKED = "review_marked", "marked a robot's conclusion"

    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=32, choices=Action.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The name as given (for a failed sign-in, as typed), kept after the user is deleted.
    username = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    target = models.CharField(max_length=200, blank=True, help_text="What the action was on")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["-at"], name="audit_at_idx"),
            models.Index(fields=["action", "-at"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        who = self.username or "someone"
        return f"{who} {self.get_action_display()} {self.target}".strip()


class FigureCheck(models.Model):
    """One run of `blu verify` (nightly, or by hand): every task's figures recounted from its
    calls and compared with what the write paths kept, then every account's day rows with its
    tasks'. The health page shows the latest."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    tasks_checked = models.PositiveIntegerField(default=0)
    tasks_drifted = models.PositiveIntegerField(default=0)
    # Accounts whose day rows (what the overview reads) differed from their tasks' day rows.
    accounts_drifted = models.PositiveIntegerField(default=0)
    fixed = models.BooleanField(default=False, help_text="Whether the drift found was repaired")
    drift = models.JSONField(default=list, blank=True, help_text="What differed (the first 50)")

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"Figures checked {self.started_at:%Y-%m-%d %H:%M}: {self.tasks_drifted} drifted"


def export_storage() -> Storage:
    """The storage export files are kept in: settings.STORAGES["exports"], opened when first
    used (a FileField would open it when this module is imported, before the system check that
    explains a storage that cannot be opened)."""
    return storages["exports"]


class ExportJob(models.Model):
    """One export of a page's table (the calls or the promises) built in the background
    (calls/exports/): the filters as asked, how far it got, and the file, which only its
    requester may fetch until it expires."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        EXPIRED = "expired"

    class Page(models.TextChoices):
        CALLS = "calls"
        PROMISES = "promises"

    PENDING = (State.QUEUED, State.RUNNING)

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_jobs"
    )
    # Which page's table the job exports; its query string is that page's.
    page = models.CharField(max_length=16, choices=Page.choices, default=Page.CALLS)
    format = models.CharField(max_length=8)
    # The page's query string as given (filters and sort), replayed by the job.
    query = models.TextField(blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    rows_matched = models.PositiveIntegerField(null=True, blank=True)
    rows_written = models.PositiveIntegerField(default=0)
    # The file's name in export_storage(); empty until done, and again once expired.
    file_name = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["requester", "-created_at"], name="exportjob_requester_idx"),
            models.Index(fields=["state", "expires_at"], name="exportjob_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.format.upper()} export {self.pk} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("calls:export_job", args=[self.pk])

    def page_url(self) -> str:
        """The page whose rows the job exports, with the filters it was asked with."""
        name = "calls:promise_list" if self.page == self.Page.PROMISES else "calls:call_list"
        return reverse(name) + (f"?{self.query}" if self.query else "")

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED, self.State.EXPIRED)

    def is_expired(self, now=None) -> bool:
        """Whether the file is gone or past its time (the clean-up may not have run yet)."""
        if self.state == self.State.EXPIRED:
            return True
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class Promise(models.Model):
    """A promise to pay: made by a call whose conclusion is flagged promise_to_pay, to its
    borrower, for the window of the call's payment-time slot (or the default window). Made,
    moved and removed by every write of calls, settled by repayments (calls/promises/).

    `outcome` holds what the data settled; whether an open promise is due, overdue or broken
    depends only on the time, so it is derived when read (calls/promises/states.py)."""

    class Outcome(models.TextChoices):
        OPEN = "open"
        KEPT = "kept"
        PARTLY_KEPT = "partly_kept", "partly kept"
        SUPERSEDED = "superseded"
        CLAIMED_PAID = "claimed_paid", "claimed paid"

    account = models.ForeignKey(BluAccount, on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="promises")
    borrower = models.ForeignKey(Borrower, on_delete=models.CASCADE, related_name="promises")
    call = models.OneToOneField(CallRecord, on_delete=models.CASCADE, related_name="promise")
    made_at = models.DateTimeField(help_text="When the call was answered (or started)")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    clear_time = models.BooleanField(
        default=True, help_text="Off: no payment time was said, the window is the default one"
    )
    expected_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.OPEN)
    paid_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    # When the repayment that kept it was paid, or the call that claimed it paid was made.
    settled_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-window_end", "-id"]
        indexes = [
            models.Index(fields=["borrower", "made_at"], name="promise_borrower_idx"),
            # The promises page: each state is an outcome and a range of window ends.
            models.Index(fields=["outcome", "-window_end", "-id"], name="promise_outcome_idx"),
            models.Index(fields=["-window_end", "-id"], name="promise_window_idx"),
            models.Index(fields=["task", "-window_end"], name="promise_task_idx"),
            models.Index(fields=["account", "-window_end"], name="promise_account_idx"),
        ]

    def __str__(self) -> str:
        return f"Promise of {self.borrower} by {self.window_end:%Y-%m-%d %H:%M}"


class PromiseOutcomeDay(models.Model):
    """How many of an account's promises have their window ending on one day (company time
    zone) with one outcome so far, kept by every write of promises (calls/promises/
    outcome_days.py): the overview's kept rates sum these few rows instead of counting the
    month's promises. Broken is not an outcome stored (it follows from the time), so the rates
    cut by the time when read."""

    account = models.ForeignKey(BluAccount, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    outcome = models.CharField(max_length=16, choices=Promise.Outcome.choices)
    promises = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "day", "outcome"], name="promiseday_unique")
        ]
        indexes = [models.Index(fields=["day"], name="promiseday_day_idx")]

    def __str__(self) -> str:
        return f"{self.account} on {self.day}: {self.promises} x {self.outcome}"


class ContactLimits(models.Model):
    """How often, and when, the lender's rules let one account's borrowers be called
    (calls/limits/). An account without a row has the defaults: 7 calls in any 7 days, no
    hold-off after a conversation, calls from 08:00 to 21:00 in the account's zone."""

    account = models.OneToOneField(
        BluAccount, on_delete=models.CASCADE, primary_key=True, related_name="contact_limits"
    )
    max_calls_7d = models.PositiveSmallIntegerField(
        "calls in any 7 days, at most",
        null=True,
        blank=True,
        default=7,
        validators=[MinValueValidator(1)],
        help_text="Calls to one borrower in any rolling 7 days (Regulation F: 7). Empty: no limit.",
    )
    hold_off_days = models.PositiveSmallIntegerField(
        "hold-off after a conversation, days",
        default=0,
        help_text="No call for this many days after a right-party call (Regulation F: 7). 0: off.",
    )
    calling_from = models.TimeField(
        default=time(8),
        help_text="The earliest time of day a call may start, in the account's zone",
    )
    calling_until = models.TimeField(
        default=time(21),
        help_text="The latest time of day a call may start, in the account's zone (earlier than "
        "the start: the hours run past midnight)",
    )

    class Meta:
        verbose_name = "contact limits"
        verbose_name_plural = "contact limits"

    def __str__(self) -> str:
        return f"Contact limits of {self.account_id}"

    def clean(self) -> None:
        if self.calling_from == self.calling_until:
            raise ValidationError(
                {
                    "calling_until": "The calling hours start and end at the same time: no call "
                    "could ever be made. Make them differ."
                },
                code="empty_hours",
            )

    def allows_time(self, local: time) -> bool:
        """Whether a call starting at this time of day (the account's zone) is within hours."""
        if self.calling_from < self.calling_until:
            return self.calling_from <= local <= self.calling_until
        return local >= self.calling_from or local <= self.calling_until


class CallLimitBreach(models.Model):
    """A call that broke one of its account's contact limits when it was made: only such calls
    have a row. Kept by every write of calls and by `blu limits recheck` (calls/limits/)."""

    call = models.OneToOneField(
        CallRecord, on_delete=models.CASCADE, primary_key=True, related_name="limit_breach"
    )
    too_many = models.BooleanField(default=False, help_text="Over the calls in any 7 days")
    in_hold_off = models.BooleanField(default=False, help_text="Within the hold-off")
    outside_hours = models.BooleanField(default=False, help_text="Outside the calling hours")

    def __str__(self) -> str:
        return f"Limits broken by {self.call_id}: {', '.join(self.labels())}"

    def labels(self) -> list[str]:
        return [
            label
            for broken, label in (
                (self.too_many, "over 7-day limit"),
                (self.in_hold_off, "in hold-off"),
                (self.outside_hours, "outside hours"),
            )
            if broken
        ]


class Repayment(models.Model):
    """A payment from the lender's own ledger (never from Blu), imported by
    calls/promises/repayments.py. Its reference, or else borrower + amount + time, is its key:
    the same file imported twice stores nothing twice."""

    class Source(models.TextChoices):
        FILE = "file", "command line"
        UPLOAD = "upload"
        API = "api"

    account = models.ForeignKey(BluAccount, on_delete=models.CASCADE, related_name="+")
    borrower = models.ForeignKey(Borrower, on_delete=models.CASCADE, related_name="repayments")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    paid_at = models.DateTimeField()
    order_id = models.CharField("orderId", max_length=200, blank=True)
    reference = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.FILE)
    imported_at = models.DateTimeField(default=timezone.now)
    promise = models.ForeignKey(
        Promise, null=True, blank=True, on_delete=models.SET_NULL, related_name="repayments"
    )

    class Meta:
        ordering = ["-paid_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "reference"],
                condition=~models.Q(reference=""),
                name="repayment_unique_reference",
            ),
            models.UniqueConstraint(
                fields=["account", "borrower", "amount", "paid_at"],
                condition=models.Q(reference=""),
                name="repayment_unique_unreferenced",
            ),
        ]
        indexes = [
            models.Index(fields=["borrower", "paid_at"], name="repayment_borrower_idx"),
            models.Index(fields=["-paid_at", "-id"], name="repayment_paid_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} from {self.borrower} at {self.paid_at:%Y-%m-%d %H:%M}"


class RepaymentToken(models.Model):
    """A key the lender's own systems send repayments with (calls/endpoints/repayments.py),
    made by an admin for one account and revocable. Only its SHA-256 is stored: the token is
    shown once, when it is made."""

    name = models.CharField(max_length=100, help_text="Whose system uses it, e.g. 'ledger'")
    account = models.ForeignKey(BluAccount, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=8, editable=False, help_text="The token's first letters")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"


class Complaint(models.Model):
    """A call whose conclusion is flagged complaint, for a person to act on: opened by every
    write of calls (calls/contact/complaints.py), then acknowledged and resolved by a manager,
    each change in the audit log. Open (new or acknowledged), it puts the borrower on the stop
    list."""

    class State(models.TextChoices):
        NEW = "new"
        ACKNOWLEDGED = "acknowledged"
        RESOLVED = "resolved"

    OPEN_STATES = (State.NEW, State.ACKNOWLEDGED)

    account = models.ForeignKey(BluAccount, on_delete=models.CASCADE, related_name="+")
    # A call nobody could name a borrower for still needs a person: its complaint has none.
    borrower = models.ForeignKey(
        Borrower, null=True, blank=True, on_delete=models.SET_NULL, related_name="complaints"
    )
    call = models.OneToOneField(CallRecord, on_delete=models.CASCADE, related_name="complaint")
    opened_at = models.DateTimeField(help_text="When the call was answered (or started)")
    state = models.CharField(max_length=16, choices=State.choices, default=State.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    note = models.TextField(blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Set by the job that emailed the managers: a complaint whose email failed is sent later.
    emailed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(fields=["state", "-opened_at", "-id"], name="complaint_state_idx"),
            models.Index(fields=["borrower", "state"], name="complaint_borrower_idx"),
            models.Index(
                fields=["id"],
                condition=models.Q(emailed_at__isnull=True),
                name="complaint_unsent_idx",
            ),
        ]
        permissions = [("manage_complaints", "Can see and act on complaints")]

    def __str__(self) -> str:
        return f"Complaint {self.pk} ({self.get_state_display()})"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES


class PredialAnswer(models.Model):
    """What bludash answered one of Blu's pre-dial checks (calls/endpoints/predial.py)."""

    class Decision(models.TextChoices):
        GO = "go", "go ahead"
        CANCEL = "cancel"

    account = models.ForeignKey(BluAccount, on_delete=models.CASCADE, related_name="+")
    borrower = models.ForeignKey(
        Borrower, null=True, blank=True, on_delete=models.CASCADE, related_name="predial_answers"
    )
    decision = models.CharField(max_length=8, choices=Decision.choices)
    reason = models.CharField(max_length=200, blank=True)
    # Off: bludash could not decide (no such borrower) and gave BLUDASH_PREDIAL_UNDECIDED's answer.
    decided = models.BooleanField(default=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["borrower", "-at"], name="predial_borrower_idx")]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} at {self.at:%Y-%m-%d %H:%M}"


class ReviewDraw(models.Model):
    """That a day's sample of calls to review was drawn (calls/review/sample.py), when, and by
    whom: its row is the lock two draws of one day take, so neither adds what the other did."""

    day = models.DateField(unique=True, help_text="The company day whose calls were sampled")
    first_drawn_at = models.DateTimeField(default=timezone.now)
    drawn_at = models.DateTimeField(default=timezone.now, help_text="The last draw")
    # None: the daily job.
    drawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    calls = models.PositiveIntegerField(default=0, help_text="In the sample after the last draw")

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"Review sample of {self.day}"


class CallReview(models.Model):
    """One call drawn for a person to check the robot's conclusion (calls/review/): the code
    and bot as they were when it was drawn, why it was drawn, and the reviewer's verdict, each
    mark in the audit log."""

    class Verdict(models.TextChoices):
        RIGHT = "right"
        WRONG = "wrong"

    class Reason(models.TextChoices):
        SHORT_PROMISE = "short_promise", "short promise"
        PROMISE = "promise"
        COMPLAINT = "complaint"
        SAMPLE = "sample"

    day = models.DateField()
    call = models.OneToOneField(CallRecord, on_delete=models.CASCADE, related_name="review")
    code = models.CharField("robot's code", max_length=64)
    bot_id = models.CharField("botId", max_length=64, blank=True)
    reason = models.CharField(max_length=16, choices=Reason.choices, default=Reason.SAMPLE)
    drawn_at = models.DateTimeField(default=timezone.now)
    # Empty until reviewed.
    verdict = models.CharField(max_length=8, choices=Verdict.choices, blank=True)
    right_code = models.CharField("right code", max_length=64, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["day", "code", "id"]
        indexes = [
            models.Index(fields=["day", "code", "id"], name="review_day_idx"),
            # The accuracy page: the reviewed calls of a range of days.
            models.Index(
                fields=["day"], condition=~models.Q(verdict=""), name="review_reviewed_idx"
            ),
        ]
        permissions = [("review_calls", "Can review the robot's conclusions")]

    def __str__(self) -> str:
        return f"Review of {self.call_id} ({self.verdict or 'to review'})"

    @property
    def reviewed(self) -> bool:
        return bool(self.verdict)


def lock_account_writes(account_pk: int) -> list[str]:
    """Take the account's write turn (its row lock) until the caller's transaction ends: every
    write of its calls, borrowers, promises and repayments takes it first. Returns
    the account's borrower keys as they are now: an admin's change commits under this
    lock, so a sync that started before it links by the new keys from its next page on."""
    keys = (
        BluAccount.objects.select_for_update()
        .filter(pk=account_pk)
        .values_list("borrower_keys", flat=True)
    )
    return BluAccount(borrower_keys=next(iter(keys), "")).borrower_key_list()


def one_of(values: Iterable[int] | Iterable[str]) -> RawSQL:
    """The values given as a subquery for a field's `__in`, bound as one parameter: an array on
    PostgreSQL, a JSON list on SQLite. A page's 500-value `IN (...)` list cost Django a Python
    preparation of every value, and made a statement too long for psycopg's query cache (parsed
    again each time); this keeps the statement's text the same size for any number of values.
    Text values when any value is text, else whole numbers."""
    listed = list(values)
    if connection.vendor == "postgresql":
        kind = "text" if any(isinstance(value, str) for value in listed) else "bigint"
        return RawSQL(f"SELECT unnest(%s::{kind}[])", [listed])  # noqa: S611 (no value in it)
    return RawSQL("SELECT value FROM json_each(%s)", [json.dumps(listed, ensure_ascii=False)])
