"""`python manage.py screenshots`: a full-page PNG of every page, as people in each role see it.

Serves the app from this process on a free local port against the configured database (the demo's,
after `make demo`), signs in throw-away users (an admin, and one in no group for the no-access page)
by writing their sessions directly, so no password ever exists, and has Debian's headless Chromium
save each page. With --sync-demo it first brings the demo's calls in from the Blu sandbox, which it
starts here from var/demo-world.json unless the demo's own sandbox is already running.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone

from calls.blu.sandbox import Sandbox, load_world
from calls.dashboard.export import XLSX
from calls.exports import background, jobs
from calls.models import (
    BluAccount,
    Borrower,
    CallRecord,
    CallReview,
    Complaint,
    ExportJob,
    Task,
    export_storage,
)
from calls.review import sample as review_sample
from calls.security import roles

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
ADMIN_USER = "screenshots-admin"
NO_GROUP_USER = "screenshots-no-group"
DEMO_ACCOUNT = "demo"


class Shot(NamedTuple):
    name: str
    path: str
    who: str | None  # the session to use: "admin", "no_group", or None for a visitor
    status: int  # what the page answers when it works


class Command(BaseCommand):
    help = (
        "Save a full-page PNG of every page with the data in the database (run `make demo` "
        "first, or use `make screenshots`). Needs Chromium at /usr/bin/chromium."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--out",
            type=Path,
            default=settings.VAR_DIR / "screenshots",
            help="the folder for the PNGs (default: var/screenshots)",
        )
        parser.add_argument(
            "--sync-demo",
            action="store_true",
            help="first sync the demo's tasks once from the Blu sandbox (var/demo-world.json)",
        )
        parser.add_argument("--chromium", type=Path, default=CHROMIUM, help=f"default: {CHROMIUM}")

    def handle(self, *args: Any, out: Path, sync_demo: bool, chromium: Path, **options) -> None:
        if not chromium.exists():
            raise CommandError(f"No Chromium at {chromium}: apt-get install chromium")
        failures = []
        with self._demo_sandbox() if sync_demo else nullcontext():
            if sync_demo and (failed_sync := self._sync_demo()):
                failures.append(failed_sync)
            if not CallRecord.objects.exists():
                raise CommandError(
                    "There are no calls to show: run `make demo` first."
                    + "".join(f" ({failure})" for failure in failures)
                )
            shots = self._shots()
            out.mkdir(parents=True, exist_ok=True)
            # The database work is done before Chromium starts and after it stops: Playwright's
            # sync API runs an asyncio loop in this thread, and Django refuses ORM calls there.
            with _serving() as base_url, _signed_in() as sessions, _export_of(ADMIN_USER) as job:
                after_calls = [shot.name for shot in shots].index("calls") + 1
                shots.insert(after_calls, Shot("export", job.get_absolute_url(), "admin", 200))
                problems = _photograph(shots, base_url, sessions, out, chromium, self.stdout.write)
        saved = f"Saved {len(shots)} screenshot{pluralize(len(shots))} in {out}"
        if problems:
            failures.append("pages that did not answer as expected: " + "; ".join(problems))
        if failures:
            # Every screenshot that could be taken was: say what is missing from them, and fail.
            self.stdout.write(saved)
            raise CommandError("; ".join(failures))
        self.stdout.write(self.style.SUCCESS(saved))

    def _sync_demo(self) -> str | None:
        """Sync the demo's tasks once; what failed, or None. A task that fails to sync leaves
        the others' calls to photograph, so the screenshots go on without it."""
        try:
            call_command(
                "blu", "sync", "--account", DEMO_ACCOUNT, stdout=self.stdout, stderr=self.stderr
            )
        except CommandError as exc:
            self.stderr.write(f"{exc} The screenshots show the calls there are.")
            return f"the demo's sync: {exc}"
        return None

    def _shots(self) -> list[Shot]:
        """The pages in the order of the menu; the task with most calls, a call with a recording."""
        call = (
            CallRecord.objects.exclude(record_url="").order_by("-start_time").first()
            or CallRecord.objects.order_by("-start_time").first()
        )
        task = Task.objects.order_by("-calls_total", "pk").first()
        assert call is not None and task is not None  # handle() checked that calls exist
        # The borrower called most in the last week: a timeline across tasks and days.
        # One with a kept promise, when there is one: the page's promises and repayments too.
        borrower = (
            Borrower.objects.filter(promises__outcome="kept").order_by("-calls_7d", "pk").first()
            or Borrower.objects.order_by("-calls_7d", "pk").first()
        )
        borrower_shots = (
            [
                Shot("borrowers", reverse("calls:borrower_list"), "admin", 200),
                Shot(
                    "borrower",
                    borrower.get_absolute_url(),
                    "admin",
                    200,
                ),
            ]
            if borrower is not None
            else []
        )
        complaint = Complaint.objects.order_by("-opened_at", "-pk").first()
        complaint_shots = (
            [
                Shot(
                    "complaint",
                    reverse("calls:complaint_detail", args=[complaint.pk]),
                    "admin",
                    200,
                )
            ]
            if complaint is not None
            else []
        )
        return [
            Shot("login", reverse("login"), None, 200),
            Shot("overview", reverse("calls:overview"), "admin", 200),
            Shot("tasks", reverse("calls:task_list"), "admin", 200),
            Shot("tasks-register", reverse("calls:task_register"), "admin", 200),
            Shot("task", reverse("calls:task_detail", args=[task.pk]), "admin", 200),
            Shot("calls", reverse("calls:call_list"), "admin", 200),
            Shot("call", reverse("calls:call_detail", args=[call.pk]), "admin", 200),
            *borrower_shots,
            Shot("promises", reverse("calls:promise_list"), "admin", 200),
            Shot("promises-broken", reverse("calls:promise_list") + "?state=broken", "admin", 200),
            Shot("promises-kept", reverse("calls:promise_list") + "?state=kept", "admin", 200),
            Shot("repayments-upload", reverse("calls:repayment_upload"), "admin", 200),
            Shot("stop-list", reverse("calls:stop_list"), "admin", 200),
            Shot("complaints", reverse("calls:complaint_list"), "admin", 200),
            *complaint_shots,
            *_review_shots(call),
            Shot("conclusions", reverse("calls:conclusions"), "admin", 200),
            Shot("health", reverse("calls:health"), "admin", 200),
            Shot("admin", reverse("admin:index"), "admin", 200),
            Shot(
                "account",
                reverse("admin:calls_bluaccount_change", args=[task.account_id]),
                "admin",
                200,
            ),
            Shot("audit", reverse("admin:calls_auditevent_changelist"), "admin", 200),
            Shot("when-calls-work", reverse("calls:when_calls_work"), "admin", 200),
            Shot("no-access", reverse("calls:overview"), "no_group", 403),
        ]

    @contextmanager
    def _demo_sandbox(self) -> Iterator[None]:
        """The demo's Blu sandbox, started here from its world file unless it is already running;
        it stays up while the pages are photographed, since a call's page streams its recording
        from it."""
        if not settings.BLUDASH_SANDBOX_ENABLED:
            raise CommandError("--sync-demo needs the Blu sandbox: set BLUDASH_SANDBOX_ENABLED=1.")
        world = settings.VAR_DIR / "demo-world.json"
        account = BluAccount.objects.filter(name=DEMO_ACCOUNT).first()
        if account is None or not world.exists():
            raise CommandError("No demo to sync: run `python manage.py demo` first.")
        address = urlsplit(account.base_url)
        sandbox = Sandbox(host=address.hostname or "127.0.0.1", port=address.port or 80)
        try:
            load_world(sandbox, world)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot load {world}: {exc}") from exc
        for spec in json.loads(world.read_text())["accounts"]:
            # Nobody listens for callbacks now; the sync fetches every record anyway.
            sandbox.set_callback_url(str(spec["appId"]), None)
        try:
            sandbox.start()
        except OSError:
            self.stdout.write(f"A sandbox already answers at {account.base_url}; using it.")
            yield
            return
        try:
            yield
        finally:
            sandbox.stop()


def _review_shots(call: CallRecord) -> list[Shot]:
    """The review pages on the day of the newest call, its sample drawn as the daily job or a
    manager would (drawing is idempotent: a drawn day is left as it is), and one drawn call."""
    newest = CallRecord.objects.exclude(start_time=None).order_by("-start_time").first() or call
    day = timezone.localdate(newest.start_time) if newest.start_time else review_sample.today()
    try:
        review_sample.draw(day)
    except review_sample.BadDay:  # a call dated ahead of the company's clock
        day = review_sample.today()
    listed = reverse("calls:review_list") + f"?day={day.isoformat()}&state=all"
    shots = [Shot("review", listed, "admin", 200)]
    drawn = CallReview.objects.filter(day=day).order_by("code", "pk").first()
    if drawn is not None:
        shots.append(
            Shot("review-call", reverse("calls:review_detail", args=[drawn.pk]), "admin", 200)
        )
    shots.append(Shot("review-accuracy", reverse("calls:review_accuracy"), "admin", 200))
    return shots


@contextmanager
def _signed_in() -> Iterator[dict[str, str]]:
    """Session keys by role for throw-away users that have no usable password: an admin, and one
    in no group. The users and their sessions are deleted afterwards."""
    User = get_user_model()
    with transaction.atomic():
        User.objects.filter(username__in=[ADMIN_USER, NO_GROUP_USER]).delete()
        users = {"admin": User(username=ADMIN_USER), "no_group": User(username=NO_GROUP_USER)}
        for user in users.values():
            user.set_unusable_password()
            user.save()
        users["admin"].groups.add(Group.objects.get(name=roles.ADMINS))
    sessions: dict[str, SessionBase] = {}
    try:
        for role, user in users.items():
            sessions[role] = _session(user)
        yield {role: str(session.session_key) for role, session in sessions.items()}
    finally:
        for session in sessions.values():
            session.delete()
        User.objects.filter(pk__in=[user.pk for user in users.values()]).delete()


@contextmanager
def _export_of(username: str) -> Iterator[ExportJob]:
    """A finished XLSX export of the calls of the last week, for `username`, built here as an
    export worker would build it; its file and the job are deleted afterwards."""
    user = get_user_model().objects.get(username=username)
    job = background.new_job(user, XLSX, "")
    finished = jobs.run(job.pk) or job
    try:
        yield finished
    finally:
        if finished.file_name:
            export_storage().delete(finished.file_name)
        finished.delete()


def _session(user) -> SessionBase:
    """A saved session signed in as `user`, as django.contrib.auth.login() would store it."""
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = user._meta.pk.value_to_string(user)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a line per request and per static file would bury the list of saved files


class _Server(ThreadedWSGIServer):
    # Each request thread closes its database connections as it ends; server_close() waits for
    # them all, so no connection outlives the command (or blocks dropping a test database).
    daemon_threads = False


@contextmanager
def _serving() -> Iterator[str]:
    """The app, static files included, on a free port of 127.0.0.1 in a thread; yields its URL."""
    server = _Server(("127.0.0.1", 0), _QuietHandler, allow_reuse_address=False)
    server.set_app(StaticFilesHandler(get_wsgi_application()))
    thread = threading.Thread(target=server.serve_forever, name="screenshots-web", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _photograph(
    shots: list[Shot],
    base_url: str,
    sessions: dict[str, str],
    out: Path,
    chromium: Path,
    say: Callable[[str], Any],
) -> list[str]:
    """Saves one PNG per shot; returns a line for each page that did not answer as expected."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise CommandError("Playwright is missing: pip install -e '.[dev]'") from None

    problems = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            for number, shot in enumerate(shots, 1):
                context = browser.new_context(base_url=base_url, viewport=VIEWPORT)
                if shot.who is not None:
                    name, value = settings.SESSION_COOKIE_NAME, sessions[shot.who]
                    context.add_cookies([{"name": name, "value": value, "url": base_url}])
                page = context.new_page()
                response = page.goto(shot.path, wait_until="networkidle")
                status = response.status if response is not None else 0
                path = out / f"{number:02d}-{shot.name}.png"
                page.screenshot(path=str(path), full_page=True)
                context.close()
                say(f"{path}  ({shot.path}, {status})")
                if status != shot.status:
                    problems.append(f"{shot.path} answered {status}, not {shot.status}")
        finally:
            browser.close()
    return problems
