"""`python manage.py blu ...`: register Blu accounts and tasks, list, disable and remove them as
the admin does (calls/operations.py, shared with it), sync them now, rebuild summaries, re-encrypt
the stored app keys with the newest Fernet key.

The app key is read from BLU_APP_KEY or asked for without echo: never a command-line argument,
where it would land in shell history and the process list.
"""

from __future__ import annotations

import getpass
import os
import sys
from datetime import date, timedelta

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.template.defaultfilters import pluralize
from django.utils import formats, timezone
from django.utils.text import Truncator

from calls import operations, tasks
from calls.audit import trail
from calls.blu.client import BluError
from calls.contact import complaints
from calls.health import connection
from calls.ingest import (
    borrower_backfill,
    borrowers,
    lease,
    polling,
    reread,
    summaries,
    sync,
    unknown_tasks,
    verify,
)
from calls.limits import breaches as limit_breaches
from calls.models import BluAccount, CallLimitBreach, Complaint, Promise, SyncRun, Task
from calls.promises import ledger, repayments
from calls.review import sample as review_sample
from calls.security import crypto
from calls.security.crypto import AppKeyUnreadable

# The option each field of a new account comes from, as its problems name it.
_ACCOUNT_OPTIONS = {"base_url": "--base-url", "app_id": "--app-id", "time_zone": "--time-zone"}


def _problems_of_new(account: BluAccount) -> list[str]:
    """Everything wrong with a new account's values (its key aside), one line per problem."""
    errors: dict[str, list[str]] = {}
    if BluAccount.objects.filter(name=account.name).exists():
        errors["name"] = [f"an account named {account.name!r} exists already"]
    try:
        account.full_clean(exclude=["app_key_encrypted"])
    except ValidationError as exc:
        for field, field_errors in exc.error_dict.items():
            for error in field_errors:
                if field == "name" and error.code == "unique":
                    continue  # said above, with the name
                errors.setdefault(field, []).extend(error.messages)
    try:
        connection.validate_app_id(account.app_id)
    except ValidationError as exc:
        errors.setdefault("app_id", []).extend(exc.messages)
    return [
        message if field == NON_FIELD_ERRORS else f"{_ACCOUNT_OPTIONS.get(field, field)}: {message}"
        for field, messages in errors.items()
        for message in messages
    ]


def _last_sync(task: Task) -> str:
    """When the task was last synced, in the pages' format, and how it went."""
    if task.last_sync_at is None:
        return "never"
    when = formats.date_format(timezone.localtime(task.last_sync_at), "DATETIME_FORMAT")
    if task.last_sync_ok:
        return f"{when} ok"
    return f"{when} failed: {Truncator(task.last_error).chars(120)}"


def _removal_parts(removal: operations.TaskRemoval) -> str:
    parts = ["it"]
    if removal.sync_runs:
        parts.append(f"its {removal.sync_runs} sync run{pluralize(removal.sync_runs)}")
    if removal.day_summaries:
        days = removal.day_summaries
        parts.append(f"its {days} per-day count{pluralize(days)}")
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


class Command(BaseCommand):
    help = "Manage Blu accounts and tasks, and sync call results from Blu."

    def add_arguments(self, parser: CommandParser) -> None:
        groups = parser.add_subparsers(dest="group", required=True, parser_class=CommandParser)

        account = groups.add_parser("account", help="Blu accounts (API credentials)")
        account_actions = account.add_subparsers(
            dest="action", required=True, parser_class=CommandParser
        )
        add = account_actions.add_parser(
            "add", help="Add an account; the key comes from BLU_APP_KEY or a prompt"
        )
        add.add_argument("name")
        add.add_argument("--base-url", required=True)
        add.add_argument("--app-id", required=True)
        add.add_argument(
            "--time-zone", help="The merchant's time zone (default: BLUDASH_TIME_ZONE)"
        )
        account_actions.add_parser("list", help="List accounts")
        show = account_actions.add_parser("show", help="Show an account and its callback URL")
        show.add_argument("name")
        disable = account_actions.add_parser(
            "disable", help="Stop polling an account and refuse its callbacks; its calls stay"
        )
        disable.add_argument("name")
        enable = account_actions.add_parser("enable", help="Poll an account and accept callbacks")
        enable.add_argument("name")

        task = groups.add_parser("task", help="Blu tasks")
        task_actions = task.add_subparsers(dest="action", required=True, parser_class=CommandParser)
        task_add = task_actions.add_parser(
            "add", help="Register a task; a worker syncs it soon, or this command with --sync"
        )
        task_add.add_argument("task_id")
        task_add.add_argument("--account", required=True)
        task_add.add_argument("--name", default="")
        task_add.add_argument(
            "--sync",
            action="store_true",
            help="Sync it now, here, and print what was stored (no worker needed)",
        )
        task_list = task_actions.add_parser(
            "list", help="List tasks: account, id, polling, last sync, calls"
        )
        task_list.add_argument("--account")
        one_task = {
            "disable": "Stop polling a task; its calls stay",
            "enable": "Poll a task again",
            "remove": "Delete a task that has no calls (it asks first, or give --yes)",
        }
        for verb, help_text in one_task.items():
            verb_parser = task_actions.add_parser(verb, help=help_text)
            verb_parser.add_argument("task_id")
            verb_parser.add_argument(
                "--account", help="The task's account (needed when two accounts share the id)"
            )
            if verb == "remove":
                verb_parser.add_argument("--yes", action="store_true", help="Delete without asking")

        sync_parser = groups.add_parser("sync", help="Sync now, in the foreground")
        sync_parser.add_argument("--account")
        sync_parser.add_argument("--task", dest="task_id")

        groups.add_parser(
            "summaries",
            help="Rebuild every task's summary counts from the stored calls (after an upgrade)",
        )
        reread_parser = groups.add_parser(
            "reread",
            help="Re-read every stored call from its raw record with today's reader and the "
            "account's current time zone (resumes where a stopped re-read left off)",
        )
        reread_parser.add_argument("--account")
        borrower_parser = groups.add_parser("borrowers", help="Borrowers named by the calls")
        borrower_actions = borrower_parser.add_subparsers(dest="action", required=True)
        backfill_parser = borrower_actions.add_parser(
            "backfill",
            help="Link stored calls to their borrowers, in batches (once after the upgrade "
            "that added borrowers; safe to stop and run again)",
        )
        backfill_parser.add_argument("--account")
        backfill_parser.add_argument(
            "--relink",
            action="store_true",
            help="Read every call again, not only unlinked ones (after an account's borrower "
            "keys changed)",
        )
        borrower_actions.add_parser(
            "refresh",
            help="Recount the borrowers whose calls in the last 7 days have dropped since "
            "(the list's sort; the beat job runs it every few minutes)",
        )
        repayment_parser = groups.add_parser(
            "repayments", help="The lender's payments feed (calls/promises/repayments.py)"
        )
        repayment_actions = repayment_parser.add_subparsers(dest="action", required=True)
        import_parser = repayment_actions.add_parser(
            "import",
            help="Import a CSV of borrower, amount, paid_at[, orderId, reference]: all rows or "
            "none, a row already stored is not stored again",
        )
        import_parser.add_argument("file")
        import_parser.add_argument(
            "--account", help="The Blu account whose borrowers paid (needed with several)"
        )
        promise_parser = groups.add_parser("promises", help="Promises to pay")
        promise_actions = promise_parser.add_subparsers(dest="action", required=True)
        rebuild_parser = promise_actions.add_parser(
            "rebuild",
            help="Make the promises again from the stored calls (after a code is flagged, or "
            "no longer flagged, as a promise to pay or already paid)",
        )
        rebuild_parser.add_argument("--account")
        limits_parser = groups.add_parser("limits", help="Contact limits (calls/limits/)")
        limits_actions = limits_parser.add_subparsers(dest="action", required=True)
        recheck_parser = limits_actions.add_parser(
            "recheck",
            help="Flag the stored calls again against their account's contact limits and "
            "recount each borrower's last right-party call (once after upgrading, and after a "
            "code is flagged, or no longer flagged, as right party)",
        )
        recheck_parser.add_argument("--account")
        review_parser = groups.add_parser("review", help="Calls drawn to check the robot")
        review_actions = review_parser.add_subparsers(dest="action", required=True)
        draw_parser = review_actions.add_parser(
            "draw",
            help="Draw a day's sample of calls to review, or top it up (never twice the same "
            "call); the daily job draws yesterday's",
        )
        draw_parser.add_argument(
            "--day", help="The company day, YYYY-MM-DD (default: yesterday)", default=""
        )
        complaints_parser = groups.add_parser("complaints", help="Complaints (calls/contact/)")
        complaints_actions = complaints_parser.add_subparsers(dest="action", required=True)
        complaints_rebuild = complaints_actions.add_parser(
            "rebuild",
            help="Follow the stored calls again: open the complaints of calls whose code is "
            "flagged complaint, remove those nobody acted on whose code no longer is (after a "
            "code is flagged, or no longer flagged, as a complaint)",
        )
        complaints_rebuild.add_argument("--account")
        verify_parser = groups.add_parser(
            "verify",
            help="Recount every task's figures from its stored calls and print any drift",
        )
        verify_parser.add_argument(
            "--fix", action="store_true", help="Store the recount where the figures drifted"
        )
        groups.add_parser(
            "rotate-keys",
            help="Re-encrypt every stored app key with the newest of BLUDASH_FERNET_KEYS, so "
            "the older keys can be removed",
        )

    def handle(self, *args, group: str, **options) -> None:
        self.verbosity = options["verbosity"]
        action = options.get("action")
        name = f"{group}_{action}" if action else group
        handler = getattr(self, "_" + name.replace("-", "_"))
        handler(**options)

    # --- accounts -------------------------------------------------------------------------------

    def _account_add(self, name, base_url, app_id, time_zone=None, **_):
        account = BluAccount(name=name, base_url=base_url, app_id=app_id)
        if time_zone:
            account.time_zone = time_zone
        # Everything but the key first, so a typo is reported before the key is asked for, and
        # every problem at once, so that one run shows all there is to fix.
        problems = _problems_of_new(account)
        if problems:
            raise CommandError("\n  ".join(["Account not added:", *problems]))
        account.set_app_key(self._read_app_key())
        account.save()
        # As the admin's add does: an account added from the shell is a credential change too.
        trail.account_added(account)
        self.stdout.write(f"Added Blu account {name}.")
        self.stdout.write(f"callback: {account.callback_url()}")

    def _read_app_key(self) -> str:
        key = os.environ.get("BLU_APP_KEY", "")
        if not key:
            if not sys.stdin.isatty():
                raise CommandError("Set BLU_APP_KEY, or run in a terminal to be asked for the key.")
            key = getpass.getpass("Blu app key (not shown): ")
        key = key.strip()
        if not key:
            raise CommandError("The app key is empty.")
        return key

    def _account_list(self, **_):
        accounts = list(BluAccount.objects.all())
        if not accounts:
            self.stdout.write("No Blu accounts yet: add one with `manage.py blu account add`.")
        for account in accounts:
            polled = "polled" if account.is_polled else "not polled"
            tasks_count = account.tasks.count()
            self.stdout.write(
                f"{account.name}\tappId {account.app_id}\t{account.base_url}\t"
                f"{account.time_zone}\t{polled}\t{tasks_count} task{pluralize(tasks_count)}"
            )

    def _account_show(self, name, **_):
        account = self._account(name)
        self.stdout.write(f"name: {account.name}")
        self.stdout.write(f"base url: {account.base_url}")
        self.stdout.write(f"appId: {account.app_id}")
        self.stdout.write(f"app key: {account.masked_app_key} (stored encrypted, never shown)")
        self.stdout.write(f"time zone: {account.time_zone}")
        self.stdout.write(f"polled: {'yes' if account.is_polled else 'no'}")
        self.stdout.write(f"tasks: {account.tasks.count()}")
        self.stdout.write(f"callback: {account.callback_url()}")
        self.stdout.write(f"predial: {account.predial_url()}")

    def _account_disable(self, name, **_):
        account = self._account(name)
        if not operations.set_accounts_enabled([account], enabled=False):
            self.stdout.write(f"Account {name} is disabled already.")
            return
        self.stdout.write(
            f"Disabled account {name}: it is not polled and refuses callbacks; its calls stay."
        )

    def _account_enable(self, name, **_):
        account = self._account(name)
        if not operations.set_accounts_enabled([account], enabled=True):
            self.stdout.write(f"Account {name} is enabled already.")
            return
        self.stdout.write(f"Enabled account {name}: it is polled and accepts callbacks again.")

    def _account(self, name: str) -> BluAccount:
        account = BluAccount.objects.filter(name=name).first()
        if account is None:
            raise CommandError(f"No Blu account named {name!r} (see `manage.py blu account list`).")
        return account

    # --- tasks ----------------------------------------------------------------------------------

    def _task_add(self, task_id, account, name="", sync=False, **_):
        sync_now = sync
        try:
            [task_id] = polling.parse_task_ids(task_id)
        except (polling.BadTaskIds, ValueError) as exc:
            raise CommandError(
                str(exc) if isinstance(exc, polling.BadTaskIds) else "Give one task id."
            ) from None
        blu_account = self._account(account)
        with transaction.atomic():
            task, created = polling.register_task(blu_account, task_id, name)
            # Registering again a task Blu did not know says it may know it now.
            revived = not created and unknown_tasks.revive(task)
            if created:
                # As the Tasks page audits a registration.
                trail.record(trail.Action.TASK_REGISTERED, target=f"{account}/{task_id}")
            if (created or revived) and not sync_now:
                tasks.enqueue_sync_on_commit(task.pk, trigger="new")
        if created and sync_now:
            self.stdout.write(f"Added task {task_id} to {account}; syncing it now.")
        elif created:
            self.stdout.write(
                f"Added task {task_id} to {account}; it is queued for a sync (a worker runs it; "
                "`--sync` syncs it here instead)."
            )
        elif revived:
            self.stdout.write(
                f"Blu did not know task {task_id} of {account}; it is polled again and "
                + ("synced now." if sync_now else "queued for a sync.")
            )
        else:
            self.stdout.write(f"Task {task_id} of {account} is registered already.")
        if sync_now:
            self._sync_tasks([task])

    def _task_list(self, account=None, **_):
        listed = Task.objects.select_related("account").order_by("account__name", "blu_task_id")
        if account:
            listed = listed.filter(account=self._account(account))
        if not listed.exists():
            self.stdout.write("No tasks yet: register one with `manage.py blu task add`.")
            return
        zone = timezone.get_current_timezone_name()
        self.stdout.write(f"account\ttask\tname\tpolling\tlast sync ({zone})\tcalls")
        for task in listed.iterator(chunk_size=500):
            if not task.account.is_polled:
                polling_state = "not polled (account disabled)"
            else:
                polling_state = "polled" if task.is_polled else "not polled"
            self.stdout.write(
                f"{task.account.name}\t{task.blu_task_id}\t{task.name or '-'}\t{polling_state}\t"
                f"{_last_sync(task)}\t{task.calls_total} call{pluralize(task.calls_total)}"
            )

    def _task_disable(self, task_id, account=None, **_):
        task = self._task_named(task_id, account)
        label = f"Task {task.blu_task_id} of {task.account.name}"
        if not operations.set_task_polled(task, polled=False):
            self.stdout.write(f"{label} is not polled already.")
            return
        calls = task.calls_total
        self.stdout.write(
            f"{label} is no longer polled; its {calls} call{pluralize(calls)} stay, and Blu's "
            "callbacks for it are still stored."
        )

    def _task_enable(self, task_id, account=None, **_):
        task = self._task_named(task_id, account)
        label = f"Task {task.blu_task_id} of {task.account.name}"
        if not operations.set_task_polled(task, polled=True):
            self.stdout.write(f"{label} is polled already.")
            return
        note = "" if task.account.is_polled else " once its account is enabled"
        self.stdout.write(f"{label} is polled again{note}, from the next poll on.")

    def _task_remove(self, task_id, account=None, yes=False, **_):
        task = self._task_named(task_id, account)
        label = f"task {task.blu_task_id} of {task.account.name}"
        removal = operations.what_removing_deletes(task)
        if removal.calls:
            raise CommandError(
                f"Task {task.blu_task_id} of {task.account.name} has {removal.calls} "
                f"call{pluralize(removal.calls)}: calls are the record and are never deleted "
                "(the admin refuses too). "
                f"`manage.py blu task disable {task.blu_task_id} --account {task.account.name}` "
                "stops polling it and keeps them."
            )
        named = f" ({task.name})" if task.name else ""
        self.stdout.write(
            f"Removing {label}{named} deletes {_removal_parts(removal)}; it has no calls."
        )
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError("Nothing deleted: run again with --yes to delete it.")
            if input("Delete it? Type yes to delete: ").strip().lower() != "yes":
                raise CommandError("Nothing deleted.")
        try:
            operations.remove_task(task)
        except operations.TaskNotRemovable as exc:
            raise CommandError(f"Nothing deleted: {exc}.") from None
        self.stdout.write(
            f"Deleted {label}. Blu keeps the task: `manage.py blu task add` registers it again."
        )

    def _task_named(self, task_id: str, account: str | None) -> Task:
        """The one task with this Blu id (of `account`, if given); an id two accounts share
        needs the account: each account is another Blu."""
        chosen = Task.objects.select_related("account").filter(blu_task_id=task_id)
        if account:
            chosen = chosen.filter(account=self._account(account))
        found = list(chosen.order_by("account__name"))
        if not found:
            raise CommandError(
                f"No task {task_id} is registered" + (f" for {account}." if account else ".")
            )
        if len(found) > 1:
            owners = [task.account.name for task in found]
            raise CommandError(
                f"Task {task_id} is registered for {len(owners)} accounts "
                f"({', '.join(owners)}): say which with --account."
            )
        return found[0]

    # --- sync -----------------------------------------------------------------------------------

    def _sync(self, account=None, task_id=None, **_):
        if task_id:
            self._sync_tasks([self._task_named(task_id, account)])
            return
        chosen = Task.objects.select_related("account").order_by("account__name", "blu_task_id")
        if account:
            chosen = chosen.filter(account=self._account(account))
        else:
            chosen = chosen.filter(is_polled=True, account__is_polled=True)
        to_sync = list(chosen)
        if not to_sync:
            raise CommandError("No tasks to sync: register one with `manage.py blu task add`.")
        self._sync_tasks(to_sync)

    def _sync_tasks(self, to_sync: list[Task]) -> None:
        """Sync each task in the foreground, printing what each stored; exits 2 naming the
        tasks that failed."""
        totals = {"pages": 0, "created": 0, "changed": 0, "skipped": 0}
        failed: list[str] = []
        for task in to_sync:
            label = f"{task.account.name}/{task.blu_task_id}"
            try:
                run = sync.sync_task(task, trigger="command", progress=self._progress(label))
            except lease.SyncBusy:
                self.stdout.write(f"{label}: skipped, another worker is syncing it")
                continue
            except (BluError, AppKeyUnreadable, lease.LeaseLost) as exc:
                failed.append(label)
                self.stderr.write(f"{label}: failed: {exc}")
                failed_run = SyncRun.objects.filter(task=task).first()
                if failed_run is None:
                    continue
                run = failed_run
            else:
                self.stdout.write(
                    f"{label}: {run.pages} page{pluralize(run.pages)}, {run.created} new, "
                    f"{run.changed} changed, {run.unchanged} unchanged, {run.skipped} skipped"
                )
            for key in totals:
                totals[key] += getattr(run, key)
            for reason, count in run.skip_reasons.items():
                self.stdout.write(f"  skipped {count}: {reason}")
        count, pages, errors = len(to_sync), totals["pages"], len(failed)
        self.stdout.write(
            f"Synced {count} task{pluralize(count)}: {pages} page{pluralize(pages)}, "
            f"{totals['created']} created, {totals['changed']} changed, "
            f"{totals['skipped']} skipped, {errors} error{pluralize(errors)}"
        )
        if failed:
            raise CommandError(
                f"{errors} of {count} task{pluralize(count)} failed to sync: {', '.join(failed)}.",
                returncode=2,
            )

    def _summaries(self, **_):
        every_task = Task.objects.order_by("pk")
        for n, task in enumerate(every_task.iterator(chunk_size=200), start=1):
            summaries.refresh_task_summary(task, hours=False)
            if self.verbosity >= 2 and n % 100 == 0:
                self.stdout.write(f"{n} tasks rebuilt")  # n is a multiple of 100
        # Once per account, not once per task: each task's days hold the others' calls too.
        for account_pk in BluAccount.objects.order_by("pk").values_list("pk", flat=True):
            summaries.rebuild_account_hours(account_pk)
        rebuilt = every_task.count()
        self.stdout.write(f"Rebuilt the summaries of {rebuilt} task{pluralize(rebuilt)}.")

    def _reread(self, account=None, **_):
        accounts = [self._account(account)] if account else list(BluAccount.objects.all())
        for each in accounts:
            pending = each.reread_from_pk
            if pending:
                self.stdout.write(f"{each.name}: going on from call id {pending}")

            def report(result, name=each.name):
                if self.verbosity >= 2:
                    read = result.read
                    self.stdout.write(f"{name}: {read} call{pluralize(read)} re-read so far")

            result = reread.run_reread(each, progress=report)
            self.stdout.write(
                f"{each.name}: re-read {result.read} call{pluralize(result.read)} in "
                f"{each.time_zone}, "
                f"{result.changed} changed"
            )

    def _borrowers_backfill(self, account=None, relink=False, **_):
        accounts = [self._account(account)] if account else list(BluAccount.objects.all())
        for each in accounts:

            def report(result, name=each.name):
                if self.verbosity >= 2:
                    self.stdout.write(f"{name}: {result.read} call{pluralize(result.read)} read")

            result = borrower_backfill.backfill(each, relink=relink, progress=report)
            linked = each.calls.filter(borrower__isnull=False).count()
            self.stdout.write(
                f"{each.name}: read {result.read} call{pluralize(result.read)}; "
                f"{linked} linked to {each.borrowers.count()} borrowers"
            )

    def _repayments_import(self, file, account=None, **_):
        if account:
            chosen = self._account(account)
        else:
            accounts = list(BluAccount.objects.all()[:2])
            if len(accounts) != 1:
                raise CommandError("Name the account with --account.")
            chosen = accounts[0]
        try:
            with open(file, encoding="utf-8-sig") as handle:
                text = handle.read(repayments.MAX_FILE_BYTES + 1)
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from None
        if len(text) > repayments.MAX_FILE_BYTES:
            raise CommandError(f"{file} is larger than {repayments.MAX_FILE_BYTES} bytes.")
        records, errors = repayments.csv_records(text)
        result = repayments.import_repayments(chosen, records) if not errors else None
        errors = errors or (result.errors if result else [])
        if errors:
            for error in errors:
                self.stderr.write(f"line {error.line}: {error.reason}")
            raise CommandError(f"Nothing imported: {len(errors)} bad row{pluralize(len(errors))}.")
        assert result is not None
        self.stdout.write(
            f"{chosen.name}: {len(result.new)} repayment{pluralize(len(result.new))} imported, "
            f"{result.duplicates} already stored"
        )

    def _promises_rebuild(self, account=None, **_):
        if account:
            chosen = self._account(account)
            read = {chosen.name: ledger.rebuild(chosen)}
        else:
            read = ledger.rebuild_all()
        for name, calls in read.items():
            self.stdout.write(
                f"{name}: read {calls} call{pluralize(calls)}; "
                f"{Promise.objects.filter(account__name=name).count()} promises"
            )

    def _limits_recheck(self, account=None, **_):
        accounts = [self._account(account)] if account else list(BluAccount.objects.all())
        for each in accounts:
            done = limit_breaches.recheck(each)
            flagged = CallLimitBreach.objects.filter(call__account=each).count()
            self.stdout.write(
                f"{each.name}: rechecked {done} borrower{pluralize(done)}; "
                f"{flagged} call{pluralize(flagged)} broke a contact limit"
            )

    def _review_draw(self, day="", **_):
        if day:
            try:
                chosen = date.fromisoformat(day)
            except ValueError:
                raise CommandError(f"--day {day[:20]!r} is not a day like 2024-08-15.") from None
        else:
            chosen = review_sample.today() - timedelta(days=1)
        try:
            drawn = review_sample.draw(chosen)
        except review_sample.BadDay as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{drawn.day}: {drawn.added} call{pluralize(drawn.added)} drawn, "
            f"{drawn.total} in the sample."
        )

    def _complaints_rebuild(self, account=None, **_):
        accounts = [self._account(account)] if account else list(BluAccount.objects.all())
        for each in accounts:
            read = complaints.rebuild(each)
            open_ones = Complaint.objects.filter(
                account=each, state__in=Complaint.OPEN_STATES
            ).count()
            self.stdout.write(
                f"{each.name}: read {read} call{pluralize(read)}; "
                f"{open_ones} open complaint{pluralize(open_ones)}"
            )

    def _borrowers_refresh(self, **_):
        done = borrowers.refresh_expired()
        self.stdout.write(f"Recounted {done} borrower{pluralize(done)}.")

    def _verify(self, fix=False, **_):
        check = verify.verify_figures(fix=fix, report=self.stdout.write)
        checked = check.tasks_checked
        tasks_checked = f"{checked} task{pluralize(checked)}"
        if not check.tasks_drifted and not check.accounts_drifted:
            every = "the" if checked == 1 else "all"
            self.stdout.write(f"The figures of {every} {tasks_checked} match their calls.")
            return
        done = "recounted" if fix else "not changed (run with --fix to recount them)"
        message = f"{check.tasks_drifted} of {tasks_checked} had drifted: {done}."
        if check.accounts_drifted:
            accounts = f"{check.accounts_drifted} account{pluralize(check.accounts_drifted)}"
            message = (
                f"{check.tasks_drifted} of {tasks_checked} and the day totals of {accounts} "
                f"had drifted: {done}."
            )
        if fix:
            self.stdout.write(message)
        else:
            raise CommandError(message, returncode=2)

    # --- keys -----------------------------------------------------------------------------------

    def _rotate_keys(self, **_):
        rotated, unreadable = 0, []
        for account in BluAccount.objects.order_by("name"):
            try:
                token = crypto.rotate(account.app_key_encrypted, account.name)
            except AppKeyUnreadable:
                unreadable.append(account.name)
                continue
            # Only over the ciphertext just read: a key an admin replaced meanwhile was saved
            # with the newest Fernet key already, and must not be overwritten with the old one.
            rotated += BluAccount.objects.filter(
                pk=account.pk, app_key_encrypted=account.app_key_encrypted
            ).update(app_key_encrypted=token)
        trail.record(
            trail.Action.KEYS_ROTATED,
            target="every Blu account",
            count=rotated,
            unreadable=unreadable,
        )
        self.stdout.write(
            f"Re-encrypted {rotated} app key{pluralize(rotated)} with the newest Fernet key."
        )
        if unreadable:
            count = len(unreadable)
            keys = pluralize(count, "its app key is,their app keys are")
            raise CommandError(
                f"No key in BLUDASH_FERNET_KEYS opens the app key of {count} "
                f"account{pluralize(count)}: {', '.join(unreadable)}. Keep the old Fernet key "
                f"until {keys} entered again in the admin.",
                returncode=2,
            )

    def _progress(self, label: str):
        def report(run: SyncRun) -> None:
            if self.verbosity >= 2:
                self.stdout.write(f"{label}: page {run.pages}, {run.created} new so far")

        return report
