"""The small named world the tests build on: a Blu sandbox over real HTTP, an account on it, tasks.

Without REDIS_URL the broker is Celery's in-memory one and tests marked `redis` are skipped with the
reason; with BLUDASH_REQUIRE_SERVICES=1 (CI) a missing service fails the run instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

APP_ID = "10001"
APP_KEY = "sandbox-app-key-7f3a9c"  # a sandbox key, not a secret of anything real
ZONE = "Asia/Colombo"

REQUIRE_SERVICES = os.environ.get("BLUDASH_REQUIRE_SERVICES") == "1"

# Blu's own example record from the contract (queryCallResult), one missing comma fixed.
BLU_EXAMPLE = {
    "taskId": 66547748,
    "callId": 123654,
    "jobId": 890100048,
    "userId": 1208048,
    "phone": "0159***0188",
    "recordUrl": "https://bluapi.shanghu.ai/download/v1/getDownloadUrl/FCAGKR4SUAFP2MMOZA3JVENTL4XCO5GTIJ4YSKX=",
    "name": "Anoji Mohoo",
    "status": 2,
    "code": "PTP",
    "desc": "Promised to payback",
    "strategyId": 2,
    "botId": 123,
    "startTime": "2024-01-01 13:00:00",
    "answerTime": "2024-01-01 13:00:10",
    "endTime": "2024-01-01 13:00:50",
    "duration": 40,
    "extVars": "{}",
}


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


@pytest.fixture
def sandbox() -> Iterator:
    from calls.blu.sandbox import Sandbox

    with Sandbox(max_page_size=7, tick_seconds=0.05, callback_retry_seconds=0.1) as sb:
        sb.add_account(app_id=APP_ID, app_key=APP_KEY, time_zone=ZONE)
        yield sb


@pytest.fixture
def account(db, sandbox):
    from calls.models import BluAccount

    blu_account = BluAccount(
        name="collections", base_url=sandbox.url, app_id=APP_ID, time_zone=ZONE
    )
    blu_account.set_app_key(APP_KEY)
    blu_account.save()
    return blu_account


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


# --- the people: one per role, and an outsider in no group -----------------------------------

PASSWORD = "a-long-pass-phrase-for-tests"


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
