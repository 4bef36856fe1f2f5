"""gunicorn with the repository's configuration (deploy/gunicorn.conf.py) and production
settings, for real on a free port: it serves bludash, and no log line it writes holds a callback
token."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from tests.helpers import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
HOST = "bludash.example.com"


def production_env(var_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BLUDASH_"))}
    for name in ("DATABASE_URL", "REDIS_URL"):  # SQLite and files of its own, under var_dir
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
    )
    return env


# Straight to 127.0.0.1, whatever proxy the environment names.
http = requests.Session()
http.trust_env = False


def answers(port: int) -> bool:
    try:
        http.get(
            f"http://127.0.0.1:{port}/", headers={"Host": HOST}, allow_redirects=False, timeout=5
        )
    except requests.RequestException:  # not listening yet, or still loading the app
        return False
    return True


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    """gunicorn started as the Procfile starts it; its output (both logs) in a file."""
    var_dir = tmp_path_factory.mktemp("var")
    port = free_port()
    env = production_env(var_dir, port)
    # What the README has an operator run before the first start.
    for command in (["migrate"], ["collectstatic"]):
        subprocess.run(  # noqa: S603 (this interpreter, with arguments written here)
            [sys.executable, "manage.py", *command, "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=120,
        )
    log = var_dir / "gunicorn.log"
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603
            [str(GUNICORN), "-c", "deploy/gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            assert wait_for(lambda: answers(port) or process.poll() is not None, seconds=60)
            assert process.poll() is None, log.read_text()
            yield port, log
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_gunicorn_serves_bludash_with_production_settings(server):
    port, _ = server

    answer = http.get(
        f"http://127.0.0.1:{port}/",
        headers={"Host": HOST, "X-Forwarded-Proto": "https"},
        allow_redirects=False,
        timeout=10,
    )

    assert answer.status_code == 302  # on to the sign-in page: not a 301 to HTTPS, not a 400
    assert answer.headers["Location"].startswith("/accounts/login/")


def test_the_access_log_shows_a_callback_without_its_token(server):
    port, log = server
    token = secrets.token_urlsafe(24)

    answer = http.post(
        f"http://127.0.0.1:{port}/blu/callback/{token}/",
        data=b"{}",
        headers={"Host": HOST, "X-Forwarded-Proto": "https", "Referer": f"/blu/callback/{token}/"},
        timeout=10,
    )

    assert answer.status_code == 404  # nobody's token
    assert wait_for(lambda: '"POST /blu/callback/[token]/ HTTP/1.1" 404' in log.read_text())
    assert token not in log.read_text()


@pytest.mark.parametrize(
    "name", ["BLUDASH_WEB_WORKERS", "BLUDASH_WEB_THREADS", "BLUDASH_WEB_TIMEOUT"]
)
def test_a_bad_number_of_workers_threads_or_seconds_stops_gunicorn_naming_it(tmp_path, name):
    env = {**production_env(tmp_path, free_port()), name: "many"}

    result = subprocess.run(  # noqa: S603
        [str(GUNICORN), "-c", "deploy/gunicorn.conf.py", "--check-config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"bludash: {name} must be a whole number of at least 1, not 'many'"
    ]
