"""What runserver (make demo's web process) logs of each request: one line, in the format of every
other log line, with callback tokens redacted."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import requests

from tests.helpers import callback_path, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]  # the repository: tests/system/ is two below it
# settings.py's LOGGING format: "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATTED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [a-z_.]+: ")


def answered(url: str) -> bool:
    try:
        requests.get(url, timeout=1)
    except requests.ConnectionError:
        return False
    return True


def test_runserver_logs_each_request_once_formatted_and_without_callback_tokens(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BLUDASH_"))}
    env.update(BLUDASH_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="bludash.settings")
    env.pop("DATABASE_URL", None)  # these pages read no database: an empty SQLite file does
    server = subprocess.Popen(  # noqa: S603 (this interpreter, with arguments written here)
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    token = secrets.token_urlsafe(32)
    try:
        assert wait_for(lambda: answered(f"{base}/favicon.ico"), seconds=30)
        answers = {
            "/accounts/login/": requests.get(f"{base}/accounts/login/", timeout=10),
            "/no-such-page/": requests.get(f"{base}/no-such-page/", timeout=10),
            # A GET to Blu's callback: refused (405), and logged with the token in its path.
            "/blu/callback/[token]/": requests.get(base + callback_path(token), timeout=10),
        }
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]

    assert [answer.status_code for answer in answers.values()] == [200, 404, 405]
    assert token not in output
    for path in answers:
        about = [line for line in output.splitlines() if path in line]
        assert len(about) == 1, f"{path} is logged {len(about)} times:\n{output}"
        assert FORMATTED.match(about[0]), about[0]
