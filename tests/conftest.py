"""The small named world the tests build on: a Blu sandbox over real HTTP, an account on it, tasks,
the people of each role, and a browser. Every fixture shared by more than one test module is here,
so that all of them are seen from every folder; plain functions and constants are in helpers.py.

Without REDIS_URL the broker is Celery's in-memory one and tests marked `redis` are skipped with the
reason; with BLUDASH_REQUIRE_SERVICES=1 (CI) a missing service fails the run instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.helpers import (
    APP_ID,
    APP_KEY,
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    SANDBOX_PAGE,
    ZONE,
    add_account,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

REQUIRE_SERVICES = os.environ.get("BLUDASH_REQUIRE_SERVICES") == "1"


def pytest_configure(config: pytest.Config) -> None:
    if REQUIRE_SERVICES and not os.environ.get("REDIS_URL"):
        raise pytest.UsageError("BLUDASH_REQUIRE_SERVICES=1 needs REDIS_URL")
    if not os.environ.get("REDIS_URL"):
        from bludash.celery import app

        # Tasks queued by the code under test go nowhere outside this process.
        app.conf.broker_url = "memory://"


def pytest_sessionstart(session: pytest.Session) -> None:
    if REQUIRE_SERVICES and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise pytest.UsageError("BLUDASH_REQUIRE_SERVICES=1 needs a PostgreSQL DATABASE_URL")


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # In CI every test must run: a skip there hides a missing service or a broken fixture.
    if REQUIRE_SERVICES and _skipped and session.exitstatus == 0:
        print(f"\nBLUDASH_REQUIRE_SERVICES=1 but {len(_skipped)} tests were skipped: {_skipped}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("REDIS_URL"):
        return
    skip = pytest.mark.skip(reason="needs Redis: set REDIS_URL (CI does)")
    for item in items:
        if "redis" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def quick_blu(settings) -> None:
    """Retries and timeouts on a test's scale: the sandbox answers in milliseconds."""
    settings.BLUDASH_BLU_BACKOFF = 0.01
    settings.BLUDASH_BLU_BACKOFF_MAX = 0.05
    settings.BLUDASH_BLU_READ_TIMEOUT = 2.0
    settings.BLUDASH_PAGE_SIZE = 10


@pytest.fixture(autouse=True)
def fresh_cache(settings) -> Iterator[None]:
    """Throttle and rate-limit counters start at zero in every test. Without BLUDASH_CACHE_URL
    (its own Redis database in CI) the cache is this process's memory, not var/'s shared files."""
    from django.core.cache import cache

    if not os.environ.get("BLUDASH_CACHE_URL"):
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()
    yield


@pytest.fixture(autouse=True)
def export_files(settings, tmp_path_factory):
    """Export files go to a folder of the test's own, never to var/exports."""
    location = tmp_path_factory.mktemp("exports")
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    return location


@pytest.fixture
def sandbox() -> Iterator:
    from calls.blu.sandbox import Sandbox

    with Sandbox(max_page_size=SANDBOX_PAGE, tick_seconds=0.05, callback_retry_seconds=0.1) as sb:
        sb.add_account(app_id=APP_ID, app_key=APP_KEY, time_zone=ZONE)
        yield sb


@pytest.fixture
def account(db, sandbox):
    return add_account("collections", APP_KEY, base_url=sandbox.url, app_id=APP_ID, time_zone=ZONE)


@pytest.fixture
def make_task(account, sandbox):
    """A task in the sandbox and registered with us; all its calls have ended unless told."""
    from datetime import timedelta

    from calls.models import Task

    def make(
        task_id: str = "66547748",
        calls: int = 25,
        *,
        minutes_ago: float = 120,
        pace: float = 60.0,
        **kwargs,
    ):
        sandbox.add_task(
            app_id=APP_ID,
            task_id=task_id,
            calls=calls,
            started_at=sandbox.now() - timedelta(minutes=minutes_ago),
            pace_seconds=pace,
            **kwargs,
        )
        return Task.objects.create(account=account, blu_task_id=task_id, name=f"Task {task_id}")

    return make


@pytest.fixture
def synced(make_task):
    """A task of thirty ended calls (one page of the calls table), synced."""
    from calls.ingest import sync

    task = make_task(calls=30)
    sync.sync_task(task)
    return task


@pytest.fixture
def bare_task(account, settings):
    """A task with no calls in the sandbox, for calls written directly (helpers.make_call).
    Recordings on a host other than the account's API host are fetched only when allowed:
    helpers.FAKE_BLU's host is."""
    from calls.models import Task

    settings.BLUDASH_RECORDING_HOSTS = ["blu.example"]
    return Task.objects.create(account=account, blu_task_id="777", name="Hand-made")


# --- the people: one per role, and an outsider in no group -----------------------------------


def _person(username: str, group: str | None):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(username, password=PASSWORD)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def staff_user(db):
    from calls.security.roles import STAFF

    return _person("agent", STAFF)


@pytest.fixture
def manager(db):
    from calls.security.roles import MANAGERS

    return _person("manager", MANAGERS)


@pytest.fixture
def admin_user(db):
    from calls.security.roles import ADMINS

    return _person("boss", ADMINS)


@pytest.fixture
def outsider(db):
    return _person("outsider", None)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def admin_client_(client, admin_user):
    """Signed in as a member of the Admins group (pytest-django's admin_client is a superuser)."""
    client.force_login(admin_user)
    return client


@pytest.fixture
def fast_hasher(settings) -> None:
    """For tests that sign in through the forms, many times: the throttle never sees a hash."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- in a real browser (the modules set helpers.IN_A_BROWSER as their pytestmark) -------------


@pytest.fixture
def role_groups(transactional_db) -> None:
    """The groups the roles migrations make, back after the previous test's flush.

    live_server needs transactional tests, and each ends by emptying every table, including the
    groups a data migration made. The migrations' own function re-adds only what is missing.
    """
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    from calls.migrations._groups import create_groups

    create_groups(MigrationLoader(connection).project_state().apps, None)


@pytest.fixture
def browser(monkeypatch) -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio event loop running in this thread, so Django takes
    # every ORM call the test makes here (fixtures, assertions) for one made from async code and
    # raises SynchronousOnlyOperation. They are plain blocking calls that never run on that loop,
    # so the guard is lifted for as long as Playwright runs: per test, since `manage.py
    # screenshots` starts its own Playwright, which cannot run inside another in one thread.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()
        # While a loop runs, Django keeps this thread's connections apart from the usual ones;
        # closed now, or they would stay open unseen (and PostgreSQL refuse to drop the test
        # database).
        connections.close_all()


@pytest.fixture
def browser_context(browser: Browser, live_server) -> Iterator[BrowserContext]:
    """A fresh browser profile on the live server, a laptop's window wide."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context
    context.close()
