"""`python manage.py blu ...`: register Blu accounts and tasks, sync them now, rebuild summaries,
re-encrypt the stored app keys with the newest Fernet key.

The app key is read from BLU_APP_KEY or asked for without echo: never a command-line argument,
where it would land in shell history and the process list.
"""

from __future__ import annotations

import getpass
import os
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from calls import tasks
from calls.audit import trail
from calls.blu.client import BluError
from calls.health import connection
from calls.ingest import lease, polling, reread, summaries, sync, unknown_tasks, verify
from calls.models import BluAccount, SyncRun, Task
from calls.security import crypto
from calls.security.crypto import AppKeyUnreadable


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

        task = groups.add_parser("task", help="Blu tasks")
        task_actions = task.add_subparsers(dest="action", required=True, parser_class=CommandParser)
        task_add = task_actions.add_parser("add", help="Register a task; it is synced at once")
        task_add.add_argument("task_id")
        task_add.add_argument("--account", required=True)
        task_add.add_argument("--name", default="")

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
        if BluAccount.objects.filter(name=name).exists():
            raise CommandError(f"An account named {name!r} exists already.")
        account = BluAccount(name=name, base_url=base_url, app_id=app_id)
        if time_zone:
            account.time_zone = time_zone
        try:
            # Everything but the key first, so a typo is reported before the key is asked for.
            account.full_clean(exclude=["app_key_encrypted"])
            try:
                connection.validate_app_id(account.app_id)
            except ValidationError as exc:
                raise ValidationError({"app_id": exc.messages}) from None
        except ValidationError as exc:
            problems = "; ".join(
                " ".join(messages) if field == "__all__" else f"{field}: {' '.join(messages)}"
                for field, messages in exc.message_dict.items()
            )
            raise CommandError(f"Account not added: {problems}") from None
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
            self.stdout.write(
                f"{account.name}\tappId {account.app_id}\t{account.base_url}\t"
                f"{account.time_zone}\t{polled}\t{account.tasks.count()} tasks"
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

    def _account(self, name: str) -> BluAccount:
        account = BluAccount.objects.filter(name=name).first()
        if account is None:
            raise CommandError(f"No Blu account named {name!r} (see `manage.py blu account list`).")
        return account

    # --- tasks ----------------------------------------------------------------------------------

    def _task_add(self, task_id, account, name="", **_):
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
            if created or revived:
                tasks.enqueue_sync_on_commit(task.pk, trigger="new")
        if created:
            self.stdout.write(f"Added task {task_id} to {account}; it is queued for a sync.")
        elif revived:
            self.stdout.write(
                f"Blu did not know task {task_id} of {account}; it is polled again and queued "
                "for a sync."
            )
        else:
            self.stdout.write(f"Task {task_id} of {account} is registered already.")

    # --- sync -----------------------------------------------------------------------------------

    def _sync(self, account=None, task_id=None, **_):
        chosen = Task.objects.select_related("account").order_by("account__name", "blu_task_id")
        if account:
            chosen = chosen.filter(account=self._account(account))
        if task_id:
            chosen = chosen.filter(blu_task_id=task_id)
            if not chosen.exists():
                raise CommandError(
                    f"No task {task_id} is registered" + (f" for {account}." if account else ".")
                )
            owners = sorted({task.account.name for task in chosen})
            if not account and len(owners) > 1:
                # Each account is another Blu: syncing them all would ask every one of them.
                raise CommandError(
                    f"Task {task_id} is registered for {len(owners)} accounts "
                    f"({', '.join(owners)}): say which with --account."
                )
        elif not account:
            chosen = chosen.filter(is_polled=True, account__is_polled=True)
        to_sync = list(chosen)
        if not to_sync:
            raise CommandError("No tasks to sync: register one with `manage.py blu task add`.")

        totals = {"pages": 0, "created": 0, "changed": 0, "skipped": 0}
        failed = 0
        for task in to_sync:
            label = f"{task.account.name}/{task.blu_task_id}"
            try:
                run = sync.sync_task(task, trigger="command", progress=self._progress(label))
            except lease.SyncBusy:
                self.stdout.write(f"{label}: skipped, another worker is syncing it")
                continue
            except (BluError, AppKeyUnreadable, lease.LeaseLost) as exc:
                failed += 1
                self.stderr.write(f"{label}: failed: {exc}")
                failed_run = SyncRun.objects.filter(task=task).first()
                if failed_run is None:
                    continue
                run = failed_run
            else:
                self.stdout.write(
                    f"{label}: {run.pages} pages, {run.created} new, {run.changed} changed, "
                    f"{run.unchanged} unchanged, {run.skipped} skipped"
                )
            for key in totals:
                totals[key] += getattr(run, key)
            for reason, count in run.skip_reasons.items():
                self.stdout.write(f"  skipped {count}: {reason}")
        self.stdout.write(
            f"Synced {len(to_sync)} tasks: {totals['pages']} pages, {totals['created']} created, "
            f"{totals['changed']} changed, {totals['skipped']} skipped, {failed} errors"
        )
        if failed:
            raise CommandError(f"{failed} of {len(to_sync)} tasks failed to sync.", returncode=2)

    def _summaries(self, **_):
        every_task = Task.objects.order_by("pk")
        for n, task in enumerate(every_task.iterator(chunk_size=200), start=1):
            summaries.refresh_task_summary(task)
            if self.verbosity >= 2 and n % 100 == 0:
                self.stdout.write(f"{n} tasks rebuilt")
        self.stdout.write(f"Rebuilt the summaries of {every_task.count()} tasks.")

    def _reread(self, account=None, **_):
        accounts = [self._account(account)] if account else list(BluAccount.objects.all())
        for each in accounts:
            pending = each.reread_from_pk
            if pending:
                self.stdout.write(f"{each.name}: going on from call id {pending}")

            def report(result, name=each.name):
                if self.verbosity >= 2:
                    self.stdout.write(f"{name}: {result.read} calls re-read so far")

            result = reread.run_reread(each, progress=report)
            self.stdout.write(
                f"{each.name}: re-read {result.read} calls in {each.time_zone}, "
                f"{result.changed} changed"
            )

    def _verify(self, fix=False, **_):
        check = verify.verify_figures(fix=fix, report=self.stdout.write)
        if not check.tasks_drifted:
            self.stdout.write(f"The figures of all {check.tasks_checked} tasks match their calls.")
            return
        done = "recounted" if fix else "not changed (run with --fix to recount them)"
        message = f"{check.tasks_drifted} of {check.tasks_checked} tasks had drifted: {done}."
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
        self.stdout.write(f"Re-encrypted {rotated} app keys with the newest Fernet key.")
        if unreadable:
            raise CommandError(
                f"No key in BLUDASH_FERNET_KEYS opens the app key of {len(unreadable)} accounts: "
                f"{', '.join(unreadable)}. Keep the old Fernet key until their app keys are "
                "entered again in the admin.",
                returncode=2,
            )

    def _progress(self, label: str):
        def report(run: SyncRun) -> None:
            if self.verbosity >= 2:
                self.stdout.write(f"{label}: page {run.pages}, {run.created} new so far")

        return report
