"""Settings read from the environment: defaults that run, and loud failures naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def start(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BLUDASH_"))}
    clean.update(env, DJANGO_SETTINGS_MODULE="bludash.settings")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_fresh_clone_starts_with_no_settings_at_all():
    assert start().returncode == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_DEBUG": "0"}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "s" * 50}, "BLUDASH_FERNET_KEYS must be set"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG must be true or false"),
        ({"BLUDASH_POLL_SECONDS": "often"}, "BLUDASH_POLL_SECONDS must be a whole number"),
        ({"BLUDASH_TIME_ZONE": "Mars/Base"}, "BLUDASH_TIME_ZONE must be an IANA time zone"),
        ({"DATABASE_URL": "nosuchdb://x"}, "DATABASE_URL cannot be read"),
        ({"DJANGO_SECRET_KEY_FILE": "/nonexistent/secret"}, "DJANGO_SECRET_KEY_FILE: cannot read"),
        ({"BLUDASH_FERNET_KEYS": "not-a-key"}, "BLUDASH_FERNET_KEYS: key 1 is not a Fernet key"),
        ({"BLUDASH_PUBLIC_URL": "bludash.example.com"}, "BLUDASH_PUBLIC_URL must be the site"),
        ({"BLUDASH_LOG_LEVEL": "LOUD"}, "BLUDASH_LOG_LEVEL must be DEBUG, INFO"),
        ({"BLUDASH_SYNC_LEASE_SECONDS": "60"}, "BLUDASH_SYNC_LEASE_SECONDS must exceed"),
    ],
)
def test_a_bad_or_missing_value_stops_the_start_naming_the_variable(env, message):
    result = start(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s" * 50 + "\n")
    key = tmp_path / "fernet"
    key.write_text("2V8c0Qm0f0nHxYQH7bV7c0Jr6cXn0hY1m9K3bq7Z9jE=")
    result = start(
        DJANGO_DEBUG="0", DJANGO_SECRET_KEY_FILE=str(secret), BLUDASH_FERNET_KEYS_FILE=str(key)
    )
    assert result.returncode == 0, result.stderr
