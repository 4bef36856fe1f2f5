"""The callbacks bench measures what production costs, so it refuses to run without the shared
Redis that production counts callbacks in (the settings would fall back to a file cache): one
line saying what to set, before any database is dropped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_callbacks_bench_refuses_to_run_without_redis():
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "BLUDASH_CACHE_URL"}}
    # A database the bench may not drop: had it gone on, it would have refused that instead.
    server = "--database-url=postgres://postgres@127.0.0.1:5432/postgres"
    ran = subprocess.run(  # noqa: S603 (this interpreter, with arguments written here)
        [sys.executable, str(ROOT / "bench" / "callbacks.py"), "--smoke", server],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert ran.returncode == 1
    assert ran.stdout == ""
    assert ran.stderr.strip().splitlines() == [
        "bench/callbacks.py needs Redis: set BLUDASH_CACHE_URL (or REDIS_URL) to a redis:// URL, "
        "as production shares the callbacks' rate limit and counters there"
    ]
