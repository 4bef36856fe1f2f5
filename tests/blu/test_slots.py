"""At most BLUDASH_BLU_MAX_CONCURRENT requests to one Blu account at once, whoever sends them:
counted at the sandbox, as Blu would see them. With Redis (marker `redis`) the slots are shared
by every process; without it each process keeps its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from calls.blu import client, slots
from calls.ingest import sync
from calls.models import BluAccount, SyncRun
from tests.helpers import APP_ID, APP_KEY, ZONE, start_and_join

ROOT = Path(__file__).resolve().parents[2]
OTHER_APP_ID = "20002"
HOUR = timedelta(hours=1)


def credentials(sandbox, app_id: str = APP_ID) -> client.Credentials:
    return client.Credentials("collections", sandbox.url, app_id, APP_KEY)


def ask_at_once(creds: client.Credentials, threads: int, requests: int) -> list[BaseException]:
    """`threads` threads each asking for a page `requests` times; what they raised."""
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            for _ in range(requests):
                client.query_page(creds, "1", 1, 5, retry=False)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    workers = [threading.Thread(target=ask) for _ in range(threads)]
    start_and_join(workers, seconds=60)
    assert not any(thread.is_alive() for thread in workers)
    return errors


def add_ended_task(sandbox, app_id: str, task_id: str) -> None:
    """A task of five calls, all ended: every page asked for has records."""
    sandbox.add_task(app_id=app_id, task_id=task_id, calls=5, started_at=sandbox.now() - HOUR)


@pytest.fixture
def slow_blu(sandbox, settings):
    """Each page takes a moment, so that requests overlap; waits long enough to get a turn."""
    sandbox.page_delay = 0.05
    add_ended_task(sandbox, APP_ID, "1")
    settings.BLUDASH_BLU_MAX_CONCURRENT = 3
    settings.BLUDASH_BLU_SLOT_WAIT_SECONDS = 30.0
    return sandbox


@pytest.mark.redis
def test_many_threads_asking_one_account_never_have_more_requests_at_blu_than_the_limit(
    slow_blu,
):
    assert ask_at_once(credentials(slow_blu), threads=12, requests=5) == []
    asked = [entry for entry in slow_blu.request_log if entry["app_id"] == APP_ID]
    assert len(asked) == 60 and all(entry["code"] == 2000 for entry in asked)
    assert 1 < slow_blu.peak_concurrent_requests(APP_ID) <= 3


def test_without_redis_each_process_keeps_to_the_limit_itself(slow_blu, settings):
    settings.BLUDASH_BLU_SLOTS_URL = None
    assert ask_at_once(credentials(slow_blu), threads=12, requests=5) == []
    assert 1 < slow_blu.peak_concurrent_requests(APP_ID) <= 3


@pytest.mark.redis
def test_a_request_that_gets_no_slot_in_time_is_a_temporary_error_and_is_not_sent(
    slow_blu, settings
):
    settings.BLUDASH_BLU_MAX_CONCURRENT = 1
    settings.BLUDASH_BLU_SLOT_WAIT_SECONDS = 0.2
    creds = credentials(slow_blu)
    busy = pytest.raises(client.BluSlotsBusy, match="Blu busy for this account")
    with slots.held(slots.account_key(APP_ID, slow_blu.url)), busy as raised:  # another's request
        client.query_page(creds, "1", 1, 5, retry=False)
    assert raised.value.temporary and "nothing was sent" in str(raised.value)
    assert slow_blu.request_log == []
    assert client.query_page(creds, "1", 1, 5, retry=False)  # the slot is free again


@pytest.mark.redis
def test_two_accounts_do_not_share_slots(slow_blu, settings):
    slow_blu.add_account(app_id=OTHER_APP_ID, app_key=APP_KEY, time_zone=ZONE)
    add_ended_task(slow_blu, OTHER_APP_ID, "2")
    settings.BLUDASH_BLU_MAX_CONCURRENT = 1
    settings.BLUDASH_BLU_SLOT_WAIT_SECONDS = 0.2
    with slots.held(slots.account_key(APP_ID, slow_blu.url)):
        assert client.query_page(credentials(slow_blu, OTHER_APP_ID), "2", 1, 5, retry=False)
        with pytest.raises(client.BluSlotsBusy):
            client.query_page(credentials(slow_blu), "1", 1, 5, retry=False)


@contextmanager
def a_slot_held_in_another_process(key: str) -> Iterator[subprocess.Popen[str]]:
    """A process that takes one slot of the account and then hangs, as a worker stuck in a
    request would; yielded once it holds the slot, killed at the end if still alive."""
    code = (
        "import django, time; django.setup()\n"
        "from calls.blu import slots\n"
        f"with slots.held({key!r}):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(120)\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bludash.settings",
        "BLUDASH_BLU_MAX_CONCURRENT": "1",
        "BLUDASH_BLU_CONNECT_TIMEOUT": "0.2",
        "BLUDASH_BLU_READ_TIMEOUT": "0.5",
        "BLUDASH_BLU_SLOT_SECONDS": "1",  # a slot outlives its holder by at most this long
    }
    with subprocess.Popen(  # noqa: S603 (our own interpreter, our own code)
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            yield holder
        finally:
            holder.kill()


@pytest.mark.redis
def test_the_slot_of_a_worker_killed_mid_request_frees_itself(slow_blu, settings):
    settings.BLUDASH_BLU_MAX_CONCURRENT = 1
    settings.BLUDASH_BLU_SLOT_WAIT_SECONDS = 0.2
    creds = credentials(slow_blu)
    with a_slot_held_in_another_process(slots.account_key(APP_ID, slow_blu.url)) as holder:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)

    with pytest.raises(client.BluSlotsBusy):  # the dead worker's slot has not run out yet
        client.query_page(creds, "1", 1, 5, retry=False)
    settings.BLUDASH_BLU_SLOT_WAIT_SECONDS = 10.0
    assert client.query_page(creds, "1", 1, 5, retry=False)  # once it has
    assert len(slow_blu.request_log) == 1


@pytest.mark.redis
def test_a_sync_that_gets_no_slot_fails_for_a_retry_without_counting_against_the_account(
    make_task, sandbox, settings
):
    task = make_task(calls=9)
    settings.BLUDASH_BLU_MAX_CONCURRENT = 1
    settings.BLUDASH_BLU_SLOT_WAIT_SECONDS = 0.05
    with slots.held(slots.account_key(APP_ID, sandbox.url)), pytest.raises(client.BluSlotsBusy):
        sync.sync_task(task)
    run = SyncRun.objects.get(task=task)
    assert run.outcome == SyncRun.Outcome.FAILED and "Blu busy for this account" in run.error
    assert BluAccount.objects.get(pk=task.account_id).consecutive_failures == 0
