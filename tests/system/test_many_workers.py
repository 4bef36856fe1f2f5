"""Many workers on one PostgreSQL and one Redis, as a deployment on several machines runs them:
three Celery workers as separate nodes, one beat and the web server (gunicorn), against the Blu
sandbox with 200 tasks registered at once through the Tasks page. During the run the worker
syncing a task on which Blu is slow is killed with SIGKILL mid-request, and beat is restarted.

Every record is stored exactly once, and Blu (the sandbox) never sees more concurrent requests
from the account than BLUDASH_BLU_MAX_CONCURRENT, the slots the workers share through Redis.
Figures are printed (pytest -s shows them). About 40 seconds on two cores.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from celery import Celery
from django.conf import settings as django_settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from calls.models import CallRecord, SyncRun, Task
from calls.seed import POLL_TASK_NAME
from tests.deploy.servers import serving
from tests.helpers import APP_ID, PASSWORD, free_port, wait_for
from tests.system import faultkit

ON_POSTGRES = django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")

pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL: set DATABASE_URL (CI does)"),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server on PATH"),
]

TASKS = 200
CALLS_PER_TASK = 5
LIMIT = 2  # BLUDASH_BLU_MAX_CONCURRENT: below the three workers, so the slots must hold them
FIRST_TASK_ID = 70_000_000
BLU_ANSWERS_IN = 0.1  # seconds, each page


@pytest.fixture
def deployment(transactional_db, tmp_path) -> Iterator[faultkit.Services]:
    running = faultkit.Services(tmp_path, BLUDASH_BLU_MAX_CONCURRENT=LIMIT)
    running.redis.start()
    try:
        yield running
    finally:
        running.stop()


def sign_in(web: requests.Session, base: str, username: str) -> None:
    form = web.get(f"{base}/accounts/login/", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert csrf, form.text
    answer = web.post(
        f"{base}/accounts/login/",
        data={"csrfmiddlewaretoken": csrf[1], "username": username, "password": PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text


def node_syncing(
    deployment: faultkit.Services, workers: list[faultkit.CeleryProcess], task: Task
) -> faultkit.CeleryProcess:
    """The worker whose pool is running the sync of `task` now, as `celery inspect` says."""
    client = Celery("many-workers-client", broker=deployment.redis.url(0), set_as_current=False)
    try:
        active = client.control.inspect(timeout=2, limit=len(workers)).active() or {}
    finally:
        client.close()
    nodes = [
        node
        for node, jobs in active.items()
        if any(job["name"] == "calls.tasks.sync_task" and job["args"][0] == task.pk for job in jobs)
    ]
    assert len(nodes) == 1, active
    [worker] = [worker for worker in workers if nodes[0].startswith(f"{worker.name}@")]
    return worker


def register_through_the_tasks_page(web: requests.Session, base: str, account, ids) -> None:
    form = web.get(f"{base}/tasks/add/", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert csrf, form.text
    answer = web.post(
        f"{base}/tasks/add/",
        data={"csrfmiddlewaretoken": csrf[1], "account": account.pk, "task_ids": "\n".join(ids)},
        allow_redirects=False,
        timeout=60,
    )
    assert answer.status_code == 302, answer.text


def test_three_workers_one_beat_and_the_web_store_every_record_once_within_blus_limit(
    role_groups, manager, account, sandbox, deployment
):
    ids = [str(FIRST_TASK_ID + n) for n in range(TASKS)]
    # Blu's answers take most of a sync, as over the internet: unlimited, the three workers
    # would often ask at once.
    sandbox.page_delay = BLU_ANSWERS_IN
    for task_id in ids:
        sandbox.add_task(
            app_id=APP_ID,
            task_id=task_id,
            calls=CALLS_PER_TASK,
            started_at=sandbox.now() - timedelta(hours=2),
            pace_seconds=60.0,
        )
    poll = PeriodicTask.objects.get(name=POLL_TASK_NAME)
    poll.interval, _ = IntervalSchedule.objects.get_or_create(
        every=2, period=IntervalSchedule.SECONDS
    )
    poll.save()
    port = free_port()
    web_env = deployment.env() | {
        "BLUDASH_WEB_BIND": f"127.0.0.1:{port}",
        "BLUDASH_WEB_WORKERS": "1",
        "BLUDASH_WEB_THREADS": "2",
    }
    sandbox.inject("slow", task_id=ids[TASKS // 4], page_no=1, times=1, seconds=4.0)
    workers = [deployment.worker(f"w{n}") for n in (1, 2, 3)]
    beat = deployment.beat()
    synced = Task.objects.filter(last_sync_ok=True)

    with serving(web_env, port, deployment.workdir / "gunicorn.log"):
        base = f"http://127.0.0.1:{port}"
        web = requests.Session()
        web.trust_env = False
        sign_in(web, base, manager.username)
        started = time.monotonic()
        register_through_the_tasks_page(web, base, account, ids)

        # A quarter of the way in, Blu is slow on one task's page: the worker syncing it dies
        # with its pool child mid-request, as a machine lost would, holding a Blu slot.
        slow_task = Task.objects.get(blu_task_id=ids[TASKS // 4])
        running = SyncRun.objects.filter(task=slow_task, outcome=SyncRun.Outcome.RUNNING)
        assert wait_for(running.exists, seconds=60), deployment.logs()
        victim = node_syncing(deployment, workers, slow_task)
        victim.kill_group()
        killed_at, synced_at_kill = time.monotonic(), synced.count()
        # And beat is restarted, as a deploy of the beat machine does.
        beat.kill_group()
        beat = deployment.beat()

        assert wait_for(lambda: synced.count() == TASKS, seconds=120, step=0.5), deployment.logs()
        done_at = time.monotonic()
        duration = done_at - started

    stored = list(CallRecord.objects.values_list("task__blu_task_id", "call_id"))
    in_blu = {
        (task_id, str(record["callId"])) for task_id in ids for record in sandbox.records(task_id)
    }
    assert len(in_blu) == TASKS * CALLS_PER_TASK
    assert len(stored) == len(set(stored))  # nothing twice
    assert set(stored) == in_blu  # nothing missing, nothing made up
    peak = sandbox.peak_concurrent_requests(APP_ID)
    state = requests.get(f"{sandbox.url}/_sandbox/state", timeout=10).json()
    assert state["peakConcurrentRequests"][APP_ID] == peak
    assert 1 <= peak <= LIMIT
    interrupted = SyncRun.objects.get(task=slow_task, error__contains="the worker stopped")
    assert interrupted.outcome == SyncRun.Outcome.FAILED  # marked by the sync that redid it
    assert SyncRun.objects.filter(task=slow_task, outcome=SyncRun.Outcome.OK).exists()
    syncs = SyncRun.objects.filter(outcome=SyncRun.Outcome.OK).count()
    failed = SyncRun.objects.filter(outcome=SyncRun.Outcome.FAILED).count()
    print(
        f"\nmany workers: {TASKS} tasks x {CALLS_PER_TASK} calls = {len(stored)} records stored "
        f"once each in {duration:.1f}s ({syncs} successful syncs, {failed} failed and redone); "
        f"peak concurrent Blu requests {peak} (limit {LIMIT}); {victim.name} SIGKILLed mid-sync "
        f"at {synced_at_kill} tasks synced, beat restarted; the rest completed "
        f"{done_at - killed_at:.1f}s after the kill"
    )
