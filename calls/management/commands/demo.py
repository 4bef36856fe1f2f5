"""`python manage.py demo`: the demo world: an admin login, a Blu account on the sandbox, tasks.

Writes var/demo-world.json for the sandbox (`manage.py sandbox --world ...`) so both sides agree
on the account and the tasks. Running it again reuses what exists, adding a task for today when
the newest one is from an earlier day, so the dashboard always has calls arriving.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.template.defaultfilters import pluralize
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from calls import tasks
from calls.blu.sandbox import load_world
from calls.blu.sandbox.repayments import sample_csv
from calls.blu.sandbox.world import World
from calls.ingest import polling
from calls.models import BluAccount
from calls.promises import repayments
from calls.security import roles
from calls.seed import POLL_TASK_NAME, ensure_poll_schedule

SANDBOX_URL = "http://127.0.0.1:8765"
DEMO_ZONE = "Asia/Colombo"
DEMO_USER = "demo"
ROLE_USERS = {"demo-staff": roles.STAFF, "demo-manager": roles.MANAGERS, "demo-admin": roles.ADMINS}
# (name, days ago, calls, seconds between calls)
PAST_TASKS = [
    ("Overdue 1-7 days", 30, 300, 40.0),
    ("Overdue 8-30 days", 12, 800, 12.0),
    ("Pre-due reminder", 3, 400, 20.0),
]
# The borrowers the demo's calls go to: a few thousand calls over a month reach each several
# times, in several tasks on several days.
DEMO_BORROWERS = 600
TODAY_TASKS = [("Today: overdue 1-7 days", 1500, 3.0), ("Today: pre-due reminder", 900, 5.0)]


class Command(BaseCommand):
    help = "Set up the demo: admin login, a Blu sandbox account and tasks (reuses what exists)."

    def add_arguments(self, parser):
        parser.add_argument("--poll-seconds", type=int, default=15)

    def handle(self, *args, poll_seconds: int, **options) -> None:
        if not settings.BLUDASH_SANDBOX_ENABLED:
            raise CommandError("The demo needs the Blu sandbox: set BLUDASH_SANDBOX_ENABLED=1.")
        world_path = settings.VAR_DIR / "demo-world.json"
        world = json.loads(world_path.read_text()) if world_path.exists() else self._new_world()
        self._add_today_tasks(world)
        world_path.write_text(json.dumps(world, indent=2))
        world_path.chmod(0o600)

        with transaction.atomic():
            password = self._demo_user()
            account = self._demo_account(world)
            world["accounts"][0]["callbackUrl"] = account.callback_url()
            world_path.write_text(json.dumps(world, indent=2))
            for spec in world["tasks"]:
                task, created = polling.register_task(account, spec["taskId"], spec["name"])
                if created:
                    tasks.enqueue_sync_on_commit(task.pk, trigger="new")
            self._poll_every(poll_seconds)

        imported = self._import_repayments(world_path, account)

        # This command starts nothing: whoever starts the web server (`make demo`) says where it
        # is and how to stop it; `make screenshots` starts none.
        count = len(world["tasks"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: Blu account {account.name} on the sandbox at "
                f"{account.base_url}, {count} task{pluralize(count)}."
            )
        )
        self.stdout.write(f"Repayments: {imported}.")
        self.stdout.write(f"Sign in as {DEMO_USER!r} with password {password!r}")
        self.stdout.write(
            "The same password signs in " + ", ".join(f"{u!r} ({g})" for u, g in ROLE_USERS.items())
        )

    def _new_world(self) -> dict:
        return {
            "maxPageSize": 100,
            "accounts": [
                {
                    "appId": "10001",
                    "appKey": secrets.token_urlsafe(24),
                    "timeZone": DEMO_ZONE,
                    "callbackUrl": None,
                }
            ],
            "tasks": [
                {
                    "appId": "10001",
                    "taskId": str(66547000 + number),
                    "name": name,
                    "calls": calls,
                    "startedAt": (datetime.now(ZoneInfo("UTC")) - timedelta(days=days)).isoformat(),
                    "paceSeconds": pace,
                    "seed": number,
                    "withScript": True,
                    "borrowers": DEMO_BORROWERS,
                }
                for number, (name, days, calls, pace) in enumerate(PAST_TASKS, 1)
            ],
        }

    def _add_today_tasks(self, world: dict) -> None:
        zone = ZoneInfo(DEMO_ZONE)
        today = datetime.now(zone).date()
        if any(
            datetime.fromisoformat(task["startedAt"]).astimezone(zone).date() == today
            for task in world["tasks"]
        ):
            return
        next_id = max(int(task["taskId"]) for task in world["tasks"]) + 1
        for offset, (name, calls, pace) in enumerate(TODAY_TASKS):
            world["tasks"].append(
                {
                    "appId": "10001",
                    "taskId": str(next_id + offset),
                    "name": f"{name} ({today:%b %d})",
                    "calls": calls,
                    # Started a while ago: the first poll finds calls, and more keep coming.
                    "startedAt": (
                        datetime.now(ZoneInfo("UTC")) - timedelta(minutes=10 + 5 * offset)
                    ).isoformat(),
                    "paceSeconds": pace,
                    "seed": next_id + offset,
                    "withScript": True,
                    "borrowers": DEMO_BORROWERS,
                }
            )

    def _import_repayments(self, world_path, account: BluAccount) -> str:
        """The sample repayments file of the world's promises so far (var/demo-repayments.csv),
        imported as `blu repayments import` would: again on every run, storing nothing twice."""
        world = World()
        load_world(world, world_path)
        text = sample_csv(
            world, datetime.now(ZoneInfo("UTC")), settings.BLUDASH_PROMISE_DEFAULT_DAYS
        )
        path = settings.VAR_DIR / "demo-repayments.csv"
        path.write_text(text)
        records, errors = repayments.csv_records(text)
        result = repayments.import_repayments(account, records) if not errors else None
        if result is None or not result.saved:
            raise CommandError(f"The demo's repayments file {path} did not import.")
        new, old = len(result.new), result.duplicates
        return f"{new} new from {path.name} ({old} already stored)"

    def _demo_user(self) -> str:
        login_path = settings.VAR_DIR / "demo-login"
        User = get_user_model()
        user = User.objects.filter(username=DEMO_USER).first()
        password = login_path.read_text().strip() if login_path.exists() else ""
        if user is None or not password:
            password = secrets.token_urlsafe(9)
            user = user or User(username=DEMO_USER, is_staff=True, is_superuser=True)
            user.set_password(password)
            user.save()
            login_path.write_text(password)
            login_path.chmod(0o600)
        # One person per role, same password, so a demo shows what each role sees.
        for username, group in ROLE_USERS.items():
            person = User.objects.filter(username=username).first() or User(username=username)
            person.set_password(password)
            person.save()
            person.groups.set([Group.objects.get(name=group)])
        return password

    def _demo_account(self, world: dict) -> BluAccount:
        spec = world["accounts"][0]
        account = BluAccount.objects.filter(name="demo").first()
        if account is None:
            account = BluAccount(name="demo", base_url=SANDBOX_URL, app_id=spec["appId"])
        account.time_zone = spec["timeZone"]
        account.set_app_key(spec["appKey"])
        account.save()
        return account

    def _poll_every(self, seconds: int) -> None:
        ensure_poll_schedule()
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=seconds, period=IntervalSchedule.SECONDS
        )
        poll = PeriodicTask.objects.get(name=POLL_TASK_NAME)
        poll.interval = interval
        poll.save()  # save(), not update(): beat notices changes through the model's signal
