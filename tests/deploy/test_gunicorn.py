"""gunicorn with the repository's configuration (deploy/gunicorn.conf.py) and production
settings, for real on a free port: it serves bludash, and no log line it writes holds a callback
token."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.servers import GUNICORN, HOST, ROOT, gunicorn, http, production_env
from tests.helpers import free_port, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    var_dir = tmp_path_factory.mktemp("var")
    port = free_port()
    log = var_dir / "gunicorn.log"
    with gunicorn(production_env(var_dir, port), port, log):
        yield port, log


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
