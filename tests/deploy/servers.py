"""bludash's production processes started for real by the tests in tests/deploy/: gunicorn with
the repository's configuration, after what the README has an operator run first."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from cryptography.fernet import Fernet

from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
HOST = "bludash.example.com"

# Straight to 127.0.0.1, whatever proxy the environment names.
http = requests.Session()
http.trust_env = False


def production_env(var_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """Production settings on SQLite and files of their own, under var_dir; gunicorn on `port`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BLUDASH_"))}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="bludash.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        BLUDASH_FERNET_KEYS=Fernet.generate_key().decode(),
        DJANGO_ALLOWED_HOSTS=HOST,
        BLUDASH_PUBLIC_URL=f"https://{HOST}",
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        BLUDASH_VAR_DIR=str(var_dir),
        BLUDASH_WEB_BIND=f"127.0.0.1:{port}",
        BLUDASH_WEB_WORKERS="1",
        BLUDASH_WEB_THREADS="2",
        **extra,
    )
    return env


def manage(env: dict[str, str], *command: str) -> None:
    subprocess.run(  # noqa: S603 (this interpreter, with arguments written here)
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )


def _answers(port: int) -> bool:
    try:
        http.get(
            f"http://127.0.0.1:{port}/", headers={"Host": HOST}, allow_redirects=False, timeout=5
        )
    except requests.RequestException:  # not listening yet, or still loading the app
        return False
    return True


@contextmanager
def gunicorn(env: dict[str, str], port: int, log: Path) -> Iterator[None]:
    """gunicorn as the Procfile starts it, once it answers on `port`; its output (both logs) in
    `log`. Static files are collected and the database migrated first, as the README says."""
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603
            [str(GUNICORN), "-c", "deploy/gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            assert wait_for(lambda: _answers(port) or process.poll() is not None, seconds=60)
            assert process.poll() is None, log.read_text()
            yield
        finally:
            process.terminate()
            process.wait(timeout=30)
