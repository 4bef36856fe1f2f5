"""The whole production stack, as the README has an operator set it up, driven over HTTPS: Debian's
nginx with the shipped site and a self-signed certificate, gunicorn, a Celery worker and beat, on
PostgreSQL and a redis-server of the test's own, syncing from the Blu sandbox over HTTP.

A person signs in through the form and sees the calls the worker synced, Blu's callback is stored,
a recording plays through the proxy, `/readyz/` answers ready with the worker and beat up, and
`/metrics` answers only the holder of its token.

The stack has a PostgreSQL database of its own (DATABASE_URL's name + "_stack"), made and dropped
here: its processes write to it while the tests read it, so it cannot be pytest-django's test
database, which other tests empty. About 25 seconds.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import LiteralString
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests
from psycopg import sql

from calls.blu.sandbox import Sandbox
from tests.deploy.servers import (
    HOST,
    NGINX,
    browser_session,
    gunicorn,
    manage,
    nginx,
    nginx_config,
    production_env,
)
from tests.helpers import APP_ID, APP_KEY, PASSWORD, ZONE, callback_body, free_port, wait_for
from tests.system import faultkit

DATABASE_URL = os.environ.get("DATABASE_URL", "")
pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(
        not Path(NGINX).is_file(), reason="nginx is not installed (apt-get install nginx; CI does)"
    ),
    pytest.mark.skipif(
        not DATABASE_URL.startswith("postgres"),
        reason="needs PostgreSQL: set DATABASE_URL (CI does)",
    ),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server on PATH"),
]

ACCOUNT = "collections"
TASK_ID = "66547748"
CALLS = 12  # two of the sandbox's pages, all shown on the calls table's first page
ADMIN = "first-admin"


@dataclass
class Stack:
    https: str
    folder: Path
    database_url: str
    sandbox: Sandbox
    metrics_token: str
    worker: faultkit.CeleryProcess
    beat: faultkit.CeleryProcess

    def query(self, statement: LiteralString, *params: object) -> list[tuple]:
        with psycopg.connect(self.database_url, autocommit=True) as database:
            return database.execute(statement, params).fetchall()

    def logs(self) -> str:
        return "\n".join([self.worker.log_tail(), self.beat.log_tail()])


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="module")
def stack_database() -> Iterator[str]:
    """A fresh PostgreSQL database for the stack, dropped afterwards."""
    name = urlsplit(DATABASE_URL).path.lstrip("/") + "_stack"
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(with_database(DATABASE_URL, "postgres"), autocommit=True) as server:
        server.execute(drop)  # left by a run that was killed
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield with_database(DATABASE_URL, name)
        finally:
            server.execute(drop)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_database) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("stack")
    redis = faultkit.RedisServer(folder)
    redis.start()
    sandbox = Sandbox(max_page_size=7, tick_seconds=0.05)
    sandbox.start()
    sandbox.add_account(app_id=APP_ID, app_key=APP_KEY, time_zone=ZONE)
    sandbox.add_task(
        app_id=APP_ID,
        task_id=TASK_ID,
        calls=CALLS,
        started_at=sandbox.now() - timedelta(hours=2),
        pace_seconds=60.0,
    )
    gunicorn_port, http_port, https_port = free_port(), free_port(), free_port()
    token = secrets.token_urlsafe(32)
    env = production_env(
        folder / "var",
        gunicorn_port,
        DATABASE_URL=stack_database,
        REDIS_URL=redis.url(0),
        BLUDASH_CACHE_URL=redis.url(1),
        BLUDASH_TRUSTED_PROXIES="127.0.0.1",
        BLUDASH_METRICS_TOKEN=token,
        BLUDASH_POLL_SECONDS="5",  # the seeded poll's interval: beat's first tick in 5 s
        BLUDASH_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    config = nginx_config(folder, gunicorn_port, http_port, https_port)
    processes: list[faultkit.CeleryProcess] = []
    try:
        with gunicorn(env, gunicorn_port, folder / "gunicorn.log"), nginx(folder, config):
            # What the README has the operator do after migrate: the first admin, the account.
            first_admin = {
                "DJANGO_SUPERUSER_USERNAME": ADMIN,
                "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
            }
            manage(
                {**env, **first_admin, "DJANGO_SUPERUSER_EMAIL": "ops@example.com"},
                "createsuperuser",
                "--noinput",
            )
            manage(
                {**env, "BLU_APP_KEY": APP_KEY},
                "blu",
                "account",
                "add",
                ACCOUNT,
                "--base-url",
                sandbox.url or "",
                "--app-id",
                APP_ID,
                "--time-zone",
                ZONE,
            )
            processes.append(faultkit.start_worker("worker", env, folder))
            processes.append(faultkit.start_beat(env, folder))
            # Registered as the operator would: the sync is queued for the worker.
            manage(env, "blu", "task", "add", TASK_ID, "--account", ACCOUNT)
            yield Stack(
                https=f"https://127.0.0.1:{https_port}",
                folder=folder,
                database_url=stack_database,
                sandbox=sandbox,
                metrics_token=token,
                worker=processes[0],
                beat=processes[1],
            )
    finally:
        for process in processes:
            process.kill_group()
        sandbox.stop()
        redis.kill()


@pytest.fixture(scope="module")
def signed_in(stack) -> requests.Session:
    """The first admin, signed in through the sign-in form over HTTPS."""
    browser = browser_session(stack.folder)
    form = browser.get(f"{stack.https}/accounts/login/", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert csrf, form.text
    answer = browser.post(
        f"{stack.https}/accounts/login/",
        data={"csrfmiddlewaretoken": csrf[1], "username": ADMIN, "password": PASSWORD},
        headers={"Referer": f"https://{HOST}/accounts/login/", "Origin": f"https://{HOST}"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    assert "sessionid" in browser.cookies
    return browser


def shown_call_ids(browser: requests.Session, stack: Stack) -> list[str]:
    page = browser.get(f"{stack.https}/calls/", timeout=10)
    assert page.status_code == 200
    body = page.text.split('class="table calls-table"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<a href="/calls/\d+/">([^<]+)</a>', body)


def test_the_calls_page_shows_the_calls_the_worker_synced(stack, signed_in):
    blu_ids = sorted(str(record["callId"]) for record in stack.sandbox.records(TASK_ID))
    assert len(blu_ids) == CALLS

    assert wait_for(lambda: sorted(shown_call_ids(signed_in, stack)) == blu_ids, seconds=60), (
        stack.logs()
    )


def test_blus_callback_through_the_proxy_is_stored(stack, signed_in):
    [(callback_token,)] = stack.query("SELECT callback_token FROM calls_bluaccount")
    record = {**stack.sandbox.records(TASK_ID)[0], "callId": 990001, "desc": "Called back"}

    answer = signed_in.post(
        f"{stack.https}/blu/callback/{callback_token}/",
        data=callback_body(record),
        headers={"Content-Type": "application/json;charset=UTF-8"},
        timeout=10,
    )

    assert answer.status_code == 200, answer.text
    stored = stack.query("SELECT call_id FROM calls_callrecord WHERE call_id = %s", "990001")
    assert stored == [("990001",)]
    assert "990001" in shown_call_ids(signed_in, stack)


def test_a_recording_plays_through_the_proxy(stack, signed_in):
    synced = "SELECT id FROM calls_callrecord WHERE record_url <> '' AND call_id <> '990001'"
    assert wait_for(lambda: stack.query(synced), seconds=60), stack.logs()
    call_pk = stack.query(synced + " ORDER BY id LIMIT 1")[0][0]

    answer = signed_in.get(f"{stack.https}/calls/{call_pk}/recording/", timeout=30)

    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "audio/wav"
    assert answer.content[:4] == b"RIFF" and len(answer.content) > 1000


def test_readyz_through_the_proxy_is_ready_with_the_worker_and_beat_up(stack):
    probe = browser_session(stack.folder)
    answers: list[requests.Response] = []

    def ready() -> bool:
        answers.append(probe.get(f"{stack.https}/readyz/", timeout=10))
        return answers[-1].status_code == 200

    assert wait_for(ready, seconds=60, step=0.5), (answers[-1].text, stack.logs())
    checks = answers[-1].json()["checks"]
    assert {name: check["ok"] for name, check in checks.items()} == {
        "database": True,
        "broker": True,
        "beat": True,
        "worker": True,
    }
    assert checks["beat"]["detail"].startswith("sent the poll")


def test_metrics_through_the_proxy_answer_only_the_holder_of_the_token(stack):
    scraper = browser_session(stack.folder)
    url = f"{stack.https}/metrics"

    without = scraper.get(url, timeout=10)
    wrong = scraper.get(url, headers={"Authorization": f"Bearer {'x' * 40}"}, timeout=10)
    right = scraper.get(url, headers={"Authorization": f"Bearer {stack.metrics_token}"}, timeout=10)

    assert without.status_code == 401
    assert wrong.status_code == 403
    assert right.status_code == 200
    assert right.headers["Content-Type"].startswith("text/plain")
    assert "bludash_records_created" in right.text
    assert stack.metrics_token not in (stack.folder / "bludash.access.log").read_text()
