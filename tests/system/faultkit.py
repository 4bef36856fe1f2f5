"""Real processes for the fault tests: a throwaway redis-server, Celery workers and beat.

Each process gets its own process group, so a test can kill a worker together with its pool
children as a crash or an OOM kill would, and every process is killed again at teardown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import redis
from celery import Celery
from django.conf import settings
from django.db import connection

from tests.helpers import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]  # the repository: tests/system/ is two below it


def this_tests_database_url() -> str:
    """DATABASE_URL of the database this test runs on (pytest-django's test_<name>)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}{port}/{db['NAME']}"


class RedisServer:
    """A redis-server of the test's own on a free port, without persistence: a restart loses
    every queued message, as a crashed Redis without AOF does. Never the machine's Redis."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        with open(self.workdir / "redis.log", "ab") as log:
            # A fixed command line: nothing in it comes from outside the test.
            self.process = subprocess.Popen(  # noqa: S603
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        if not wait_for(self.answers, seconds=10):
            raise RuntimeError(f"redis-server on port {self.port} did not start")

    def answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class CeleryProcess:
    """`celery -A bludash <args>` with its own environment, output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - a fixed command line
                [sys.executable, "-m", "celery", "-A", "bludash", *args],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the pool children too
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def group(self) -> list[int]:
        """Live (not zombie) processes of this process group: the main one and its children."""
        return group_members(self.process.pid)

    def kill_group(self) -> None:
        """SIGKILL the main process and its pool children at once: no shutdown code runs."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return f"--- {self.name} log ---\n" + "\n".join(text[-lines:])


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces, so split after its ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def service_env(broker_url: str, **overrides: object) -> dict[str, str]:
    """The environment of a worker or beat: this test's database, its own Redis, and Blu
    timeouts on a test's scale (the lease must still outlast the slowest page)."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": this_tests_database_url(),
            "REDIS_URL": broker_url,
            "BLUDASH_CACHE_URL": broker_url.rsplit("/", 1)[0] + "/1",
            "BLUDASH_FERNET_KEYS": ",".join(settings.BLUDASH_FERNET_KEYS),
            "BLUDASH_PAGE_SIZE": "10",
            "BLUDASH_BLU_RETRIES": "1",
            "BLUDASH_BLU_CONNECT_TIMEOUT": "1",
            "BLUDASH_BLU_READ_TIMEOUT": "5",
            "BLUDASH_BLU_BACKOFF": "0.01",
            "BLUDASH_BLU_BACKOFF_MAX": "0.05",
            "BLUDASH_BLU_SLOT_WAIT_SECONDS": "1",
            "BLUDASH_SYNC_LEASE_SECONDS": "8",  # > 1 x (1 + 1 + 5 + 0.05)
            "BLUDASH_QUEUED_SECONDS": "5",
            "BLUDASH_TASK_RETRY_MAX_DELAY": "2",
            "BLUDASH_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("BLUDASH_REQUIRE_SERVICES", None)
    env.update({key: str(value) for key, value in overrides.items()})
    return env


def start_worker(name: str, env: dict[str, str], workdir: Path) -> CeleryProcess:
    """A prefork worker (the default pool) with one child; no mingle or gossip chatter."""
    args = ["worker", "--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO"]
    args += ["--hostname", f"{name}@%h", "--without-mingle", "--without-gossip"]
    return CeleryProcess(name, args, env, workdir)


def start_beat(env: dict[str, str], workdir: Path) -> CeleryProcess:
    args = ["beat", "--loglevel", "INFO", "--schedule", str(workdir / "beat-schedule")]
    return CeleryProcess("beat", args, env, workdir)


def send_task(broker_url: str, name: str, *args: object) -> None:
    """Queue a task on a broker other than the test settings' one, as beat or the web would."""
    client = Celery("faultkit-client", broker=broker_url, set_as_current=False)
    try:
        client.send_task(name, args=args)
    finally:
        client.close()


class Services:
    """A test's own redis-server and the Celery processes started against it; `overrides` go
    into every process's environment (service_env)."""

    def __init__(self, workdir: Path, **overrides: object) -> None:
        self.workdir = workdir
        self.redis = RedisServer(workdir)
        self.overrides = overrides
        self.processes: list[CeleryProcess] = []

    @property
    def broker(self) -> str:
        return self.redis.url(0)

    def env(self) -> dict[str, str]:
        return service_env(self.broker, **self.overrides)

    def worker(self, name: str) -> CeleryProcess:
        process = start_worker(name, self.env(), self.workdir)
        self.processes.append(process)
        return process

    def beat(self) -> CeleryProcess:
        process = start_beat(self.env(), self.workdir)
        self.processes.append(process)
        return process

    def logs(self, lines: int = 15) -> str:
        return "\n".join(process.log_tail(lines) for process in self.processes)

    def stop(self) -> None:
        # No warm shutdown: nothing they do is needed any more, and it costs seconds a process.
        for process in self.processes:
            process.kill_group()
            print(process.log_tail())  # shown when the test fails
        self.redis.kill()
