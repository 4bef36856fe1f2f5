"""Settings read from the environment: defaults that run, and loud failures naming the variable."""

import json
import os
import secrets
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]  # the repository: tests/system/ is two below it


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BLUDASH_"))}
    clean.update(env, DJANGO_SETTINGS_MODULE="bludash.settings")
    return subprocess.run(  # noqa: S603 (this interpreter, with arguments written here)
        [sys.executable, *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def start(**env: str) -> subprocess.CompletedProcess:
    return run(["-c", "import django; django.setup()"], env)


# Production keeps its files out of the repository's var/ (the demo's, which make clean-demo
# deletes); these tests keep theirs in a folder of their own.
PRODUCTION_VAR_DIR = ROOT / "var" / "production-settings-tests"


def production(**env: str) -> dict[str, str]:
    """What a production deployment sets (see .env.example), with `env` on top."""
    return {
        "DJANGO_DEBUG": "0",
        "BLUDASH_VAR_DIR": str(PRODUCTION_VAR_DIR),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "BLUDASH_FERNET_KEYS": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "bludash.example.com",
        "BLUDASH_PUBLIC_URL": "https://bludash.example.com",
        "BLUDASH_ADMIN_EMAILS": "ops@example.com",
        "DJANGO_EMAIL_HOST": "smtp.example.com",
        **env,
    }


def deploy_check(**env: str) -> subprocess.CompletedProcess:
    return run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production(**env))


def test_a_fresh_clone_starts_with_no_settings_at_all():
    assert start().returncode == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_DEBUG": "0"}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "s" * 50}, "BLUDASH_FERNET_KEYS must be set"),
        (production(DJANGO_ALLOWED_HOSTS=""), "DJANGO_ALLOWED_HOSTS must be set"),
        (production(DJANGO_ALLOWED_HOSTS=" , "), "DJANGO_ALLOWED_HOSTS must be set"),
        (production(BLUDASH_PUBLIC_URL=""), "BLUDASH_PUBLIC_URL must be set"),
        (production(BLUDASH_VAR_DIR=""), "BLUDASH_VAR_DIR must be set"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG must be true or false"),
        ({"BLUDASH_POLL_SECONDS": "often"}, "BLUDASH_POLL_SECONDS must be a whole number"),
        ({"BLUDASH_TIME_ZONE": "Mars/Base"}, "BLUDASH_TIME_ZONE must be an IANA time zone"),
        ({"DATABASE_URL": "nosuchdb://x"}, "DATABASE_URL cannot be read"),
        ({"DJANGO_SECRET_KEY_FILE": "/nonexistent/secret"}, "DJANGO_SECRET_KEY_FILE: cannot read"),
        ({"BLUDASH_FERNET_KEYS": "not-a-key"}, "BLUDASH_FERNET_KEYS: key 1 is not a Fernet key"),
        ({"BLUDASH_PUBLIC_URL": "bludash.example.com"}, "BLUDASH_PUBLIC_URL must be the site"),
        ({"BLUDASH_LOG_LEVEL": "LOUD"}, "BLUDASH_LOG_LEVEL must be DEBUG, INFO"),
        ({"BLUDASH_SYNC_LEASE_SECONDS": "60"}, "BLUDASH_SYNC_LEASE_SECONDS must exceed"),
        ({"BLUDASH_BLU_SLOT_SECONDS": "30"}, "BLUDASH_BLU_SLOT_SECONDS must exceed a request"),
        ({"BLUDASH_BLU_MAX_CONCURRENT": "0"}, "BLUDASH_BLU_MAX_CONCURRENT must be at least 1"),
        ({"DJANGO_SECURE_PROXY_SSL_HEADER": '"X-Forwarded-Proto"'}, "must be a header name"),
        ({"BLUDASH_ADMIN_EMAILS": "ops@example.com,ops"}, "BLUDASH_ADMIN_EMAILS must be email"),
        ({"BLUDASH_LOGIN_FAILURES_PER_USER": "0"}, "BLUDASH_LOGIN_FAILURES_PER_USER must be at"),
        (
            {"BLUDASH_LOGIN_COOLOFF_MINUTES": "soon"},
            "BLUDASH_LOGIN_COOLOFF_MINUTES must be a whole",
        ),
        ({"DJANGO_EMAIL_USE_TLS": "perhaps"}, "DJANGO_EMAIL_USE_TLS must be true or false"),
        ({"DJANGO_EMAIL_USE_SSL": "perhaps"}, "DJANGO_EMAIL_USE_SSL must be true or false"),
        ({"BLUDASH_CACHE_URL": "garbage"}, "BLUDASH_CACHE_URL must be a Redis URL"),
        ({"BLUDASH_CACHE_URL": "redis://127.0.0.1:6379/cache"}, "BLUDASH_CACHE_URL must be"),
        ({"REDIS_URL": "garbage"}, "REDIS_URL must be a Redis URL"),
        ({"REDIS_URL": "redis://127.0.0.1:99999/0"}, "REDIS_URL must be a Redis URL"),
        ({"REDIS_URL": "unix:///run/redis.sock"}, "REDIS_URL must be a Redis URL"),
        (
            {"BLUDASH_RECORDING_HOSTS": "cdn.blu.example,https://cdn2.blu.example"},
            "BLUDASH_RECORDING_HOSTS must be hosts or host:port, without scheme or path",
        ),
        ({"BLUDASH_RECORDING_HOSTS": "cdn.blu.example/audio"}, "BLUDASH_RECORDING_HOSTS must"),
        ({"BLUDASH_RECORDING_HOSTS": "cdn.blu.example:0"}, "BLUDASH_RECORDING_HOSTS must"),
        ({"BLUDASH_VAR_DIR_FILE": "/nonexistent/var-dir"}, "BLUDASH_VAR_DIR_FILE: cannot read"),
        ({"BLUDASH_VAR_DIR": "/dev/null/var"}, "BLUDASH_VAR_DIR: cannot create /dev/null/var"),
        ({"BLUDASH_SESSION_IDLE_HOURS": "0"}, "BLUDASH_SESSION_IDLE_HOURS must be at least 1"),
        ({"BLUDASH_METRICS_TOKEN": "short"}, "BLUDASH_METRICS_TOKEN must be at least 32"),
        ({"BLUDASH_TRUSTED_PROXIES": "10.0.0.2,proxy.lan"}, "BLUDASH_TRUSTED_PROXIES must be"),
        ({"BLUDASH_CLIENT_IP_HEADER": "X-Real-IP:"}, "BLUDASH_CLIENT_IP_HEADER must be a header"),
        ({"BLUDASH_EXPORT_BACKGROUND_ROWS": "many"}, "BLUDASH_EXPORT_BACKGROUND_ROWS must be a"),
        ({"BLUDASH_EXPORT_KEEP_HOURS": "0"}, "BLUDASH_EXPORT_KEEP_HOURS must be at least 1"),
        (
            {"BLUDASH_EXPORT_STORAGE_BACKEND": "storages/backends/s3.py"},
            "BLUDASH_EXPORT_STORAGE_BACKEND must be a storage class's dotted path",
        ),
        (
            {"BLUDASH_EXPORT_STORAGE_OPTIONS": '["bludash-exports"]'},
            "BLUDASH_EXPORT_STORAGE_OPTIONS must be a JSON object",
        ),
    ],
)
def test_a_bad_or_missing_value_stops_the_start_naming_the_variable(env, message):
    result = start(**env)
    assert result.returncode != 0
    assert message in result.stderr


# What each way of starting bludash runs: a command, the WSGI app (gunicorn's import), a worker.
ENTRY_POINTS = {
    "manage.py": ["manage.py", "check"],
    "wsgi": ["-c", "import bludash.wsgi"],
    "celery": ["-m", "celery", "-A", "bludash", "worker", "--pool", "solo"],
}


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BLUDASH_POLL_SECONDS": "often"}, "BLUDASH_POLL_SECONDS must be a whole number"),
        ({"BLUDASH_CACHE_URL": "garbage"}, "BLUDASH_CACHE_URL must be a Redis URL"),
        ({"REDIS_URL": "garbage"}, "REDIS_URL must be a Redis URL"),
        (
            {"DJANGO_EMAIL_USE_SSL": "true", "DJANGO_EMAIL_USE_TLS": "true"},
            "DJANGO_EMAIL_USE_SSL and DJANGO_EMAIL_USE_TLS are both on",
        ),
        # A directory that cannot be made (a file's path, a read-only disk), not a traceback.
        ({"BLUDASH_VAR_DIR": "/dev/null/var"}, "BLUDASH_VAR_DIR: cannot create"),
    ],
)
def test_a_bad_value_stops_every_entry_point_with_one_line_naming_it(entry_point, env, message):
    result = run(ENTRY_POINTS[entry_point], env)

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]


def test_a_bad_value_stops_the_wsgi_app_as_one_gunicorn_does_not_restart():
    # 4 is gunicorn's "App failed to load": it stops instead of booting worker after worker.
    assert run(ENTRY_POINTS["wsgi"], {"BLUDASH_POLL_SECONDS": "often"}).returncode == 4


def test_secrets_can_come_from_files(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s" * 50 + "\n")
    key = tmp_path / "fernet"
    key.write_text("2V8c0Qm0f0nHxYQH7bV7c0Jr6cXn0hY1m9K3bq7Z9jE=")
    result = start(
        **production(
            DJANGO_SECRET_KEY="",
            BLUDASH_FERNET_KEYS="",
            DJANGO_SECRET_KEY_FILE=str(secret),
            BLUDASH_FERNET_KEYS_FILE=str(key),
        )
    )
    assert result.returncode == 0, result.stderr


def test_a_redis_password_is_never_shown_in_the_message():
    result = start(BLUDASH_CACHE_URL="redis://:hunter2-secret@127.0.0.1:6379/nine")

    assert result.returncode != 0
    assert "BLUDASH_CACHE_URL must be a Redis URL" in result.stderr
    assert "hunter2-secret" not in result.stderr


@pytest.mark.parametrize(
    "env",
    [
        {"REDIS_URL": "redis://127.0.0.1:6379/0", "BLUDASH_CACHE_URL": "unix:///run/redis.sock"},
        {"REDIS_URL": "rediss://:secret@redis.example:6380"},
        {"BLUDASH_RECORDING_HOSTS": "CDN.blu.example, cdn2.blu.example:8443, [::1]:8080, 10.0.0.7"},
        {
            "BLUDASH_TRUSTED_PROXIES": "127.0.0.1, ::1, 10.0.0.0/8",
            "BLUDASH_CLIENT_IP_HEADER": "X-Real-IP",
        },
    ],
)
def test_good_values_of_the_checked_settings_start(env):
    result = start(**env)
    assert result.returncode == 0, result.stderr


def test_export_storage_options_that_do_not_read_are_refused_without_echoing_them():
    result = start(BLUDASH_EXPORT_STORAGE_OPTIONS='{"secret_key": "hunter2-secret"')
    assert result.returncode != 0
    assert "BLUDASH_EXPORT_STORAGE_OPTIONS must be a JSON object" in result.stderr
    assert "hunter2-secret" not in result.stderr


def test_an_export_storage_that_cannot_be_opened_fails_the_check_naming_the_settings():
    env = {"BLUDASH_EXPORT_STORAGE_BACKEND": "storages.backends.nosuch.NoStorage"}
    result = run(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "bludash.E101" in result.stderr and "BLUDASH_EXPORT_STORAGE_BACKEND" in result.stderr


def test_the_export_storage_is_any_storage_by_settings_alone(tmp_path):
    assert shown("s.STORAGES['exports']", {"BLUDASH_VAR_DIR": str(tmp_path)}) == str(
        {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "exports")},
        }
    )
    env = {
        "BLUDASH_EXPORT_STORAGE_BACKEND": "storages.backends.s3.S3Storage",
        "BLUDASH_EXPORT_STORAGE_OPTIONS": (
            '{"bucket_name": "bludash-exports", "querystring_auth": false}'
        ),
    }
    assert shown("s.STORAGES['exports']", env) == str(
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": "bludash-exports", "querystring_auth": False},
        }
    )


def test_the_var_dir_can_come_from_a_file_too(tmp_path):
    var_dir = tmp_path / "elsewhere"
    named = tmp_path / "var-dir"
    named.write_text(f"{var_dir}\n")

    # Empty, as unset: the filesystem broker then makes its folders there.
    env = {"BLUDASH_VAR_DIR_FILE": str(named), "REDIS_URL": "", "DATABASE_URL": ""}

    assert shown("s.VAR_DIR", env) == str(var_dir)
    assert (var_dir / "broker").is_dir()


# --- production: check --deploy and what a browser gets -----------------------------------------


def test_production_settings_pass_check_deploy_without_a_single_warning():
    result = deploy_check()

    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("env", "warning"),
    [
        ({"DJANGO_SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"BLUDASH_SANDBOX_ENABLED": "1"}, "bludash.W001"),
        ({"BLUDASH_PUBLIC_URL": "https://127.0.0.1"}, "bludash.W002"),
        ({"BLUDASH_PUBLIC_URL": "http://bludash.example.com"}, "bludash.W003"),
        ({"BLUDASH_PUBLIC_URL": "https://dash.example.org"}, "bludash.W004"),
        ({"DJANGO_EMAIL_HOST": ""}, "bludash.W005"),
    ],
)
def test_check_deploy_names_each_production_mistake(env, warning):
    result = deploy_check(**env)

    assert result.returncode != 0
    assert warning in result.stderr


def test_opting_into_hsts_preload_passes_check_deploy_too():
    result = deploy_check(DJANGO_SECURE_HSTS_PRELOAD="1")

    assert result.returncode == 0, result.stderr
    assert "0 silenced" in result.stdout


# Requests through Django's test client in a production process: no database is touched (the
# answers are redirects), and no template is rendered (production needs collectstatic for that).
PROBE = textwrap.dedent(
    """
    import json, django
    django.setup()
    from django.test import Client
    client = Client(HTTP_HOST="bludash.example.com")
    answers = {
        "http": client.get("/"),
        "https": client.get("/", secure=True),
        "proxied": client.get("/", headers={"X-Forwarded-Proto": "https"}),
    }
    print(json.dumps({name: [r.status_code, dict(r.headers)] for name, r in answers.items()}))
    """
)


def probe(**env: str) -> dict[str, tuple[int, dict[str, str]]]:
    result = run(["-c", PROBE], production(**env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_in_production_plain_http_is_sent_to_https_and_https_is_remembered_for_a_year():
    answers = probe()

    status, headers = answers["http"]
    assert status == 301
    assert headers["Location"] == "https://bludash.example.com/"
    status, headers = answers["https"]
    assert status == 302  # on to the sign-in page
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    # Without a proxy setting, a client's own X-Forwarded-Proto is no proof of HTTPS.
    assert answers["proxied"][0] == 301


@pytest.mark.parametrize("header", ["X-Forwarded-Proto", "X-Forwarded-Proto: https"])
def test_behind_a_tls_proxy_its_header_marks_requests_as_https(header):
    answers = probe(DJANGO_SECURE_PROXY_SSL_HEADER=header)

    status, headers = answers["proxied"]
    assert status == 302
    assert "Strict-Transport-Security" in headers
    assert answers["http"][0] == 301


SHOW = "import django; django.setup(); from django.conf import settings as s; print({})"


def shown(expression: str, env: dict[str, str]) -> str:
    result = run(["-c", SHOW.format(expression)], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_production_cookies_are_https_only_and_kept_from_scripts():
    expression = "[s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY]"
    assert shown(expression, production()) == "[True, True, True]"
    assert shown("s.CSRF_TRUSTED_ORIGINS", production()) == "['https://bludash.example.com']"


def test_debug_serves_plain_http_as_before():
    expression = "[s.SESSION_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS]"
    assert shown(expression, {}) == "[False, False, 0]"


def test_email_settings_come_from_the_environment(tmp_path):
    password = tmp_path / "smtp-password"
    password.write_text("hunter2-but-longer\n")
    env = production(
        BLUDASH_ADMIN_EMAILS="ops@example.com, lead@example.com",
        DJANGO_EMAIL_PORT="465",
        DJANGO_EMAIL_HOST_USER="bludash",
        DJANGO_EMAIL_HOST_PASSWORD_FILE=str(password),
        DJANGO_EMAIL_USE_TLS="0",
        DJANGO_DEFAULT_FROM_EMAIL="bludash@example.com",
    )
    expression = (
        "[s.ADMINS, s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, "
        "s.EMAIL_HOST_PASSWORD, s.EMAIL_USE_TLS, s.DEFAULT_FROM_EMAIL, s.SERVER_EMAIL]"
    )
    assert shown(expression, env) == str(
        [
            [("ops@example.com", "ops@example.com"), ("lead@example.com", "lead@example.com")],
            "django.core.mail.backends.smtp.EmailBackend",
            "smtp.example.com",
            465,
            "bludash",
            "hunter2-but-longer",
            False,
            "bludash@example.com",
            "bludash@example.com",
        ]
    )


def test_without_a_mail_server_emails_are_written_to_the_log():
    assert shown("s.EMAIL_BACKEND", {}) == "django.core.mail.backends.console.EmailBackend"


def test_ssl_mail_servers_get_ssl_on_port_465_by_default():
    env = production(DJANGO_EMAIL_USE_SSL="true")
    assert shown("[s.EMAIL_USE_SSL, s.EMAIL_USE_TLS, s.EMAIL_PORT]", env) == "[True, False, 465]"
    assert shown("[s.EMAIL_USE_SSL, s.EMAIL_USE_TLS, s.EMAIL_PORT]", {}) == "[False, True, 587]"


MAIL_PROBE = textwrap.dedent(
    """
    import django
    django.setup()
    from django.core.mail import get_connection
    try:
        get_connection().open()
    except Exception as exc:  # the listener below is no mail server
        print(type(exc).__name__)
    """
)


def first_bytes_of_a_mail_connection(**env: str) -> bytes:
    """What bludash sends first to a mail server that says nothing until spoken to."""
    received = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(30)

        def listen() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(3)
                try:
                    received.append(connection.recv(16))
                except TimeoutError:
                    received.append(b"")  # a plain or STARTTLS client waits for a greeting

        listening = threading.Thread(target=listen)
        listening.start()
        port = str(listener.getsockname()[1])
        env = {"DJANGO_EMAIL_HOST": "127.0.0.1", "DJANGO_EMAIL_PORT": port, **env}
        result = run(["-c", MAIL_PROBE], env)
        listening.join(timeout=30)
    assert result.returncode == 0, result.stderr
    return received[0]


def test_with_ssl_on_the_mail_connection_is_tls_from_its_first_byte():
    # Port 465 servers expect a TLS handshake at once (record type 22); STARTTLS would wait.
    assert first_bytes_of_a_mail_connection(DJANGO_EMAIL_USE_SSL="true")[:1] == b"\x16"
    assert first_bytes_of_a_mail_connection() == b""


# --- production: the load balancer's probes over plain HTTP ------------------------------------

PROBES = textwrap.dedent(
    """
    import json, django
    django.setup()
    from django.test import Client
    # A load balancer inside the network: plain HTTP to the machine's own address.
    inside = Client(HTTP_HOST="10.0.0.5:8000")
    site = Client(HTTP_HOST="bludash.example.com")
    answers = {
        "healthz": inside.get("/healthz/"),
        "readyz": inside.get("/readyz/"),
        "page": site.get("/"),
        "login": site.get("/accounts/login/"),
        "metrics": site.get("/metrics"),
        "callback": site.get("/blu/callback/some-token/"),
    }
    print(json.dumps({
        name: [r.status_code, r.headers.get("Location", ""), r.content.decode()]
        for name, r in answers.items()
    }))
    """
)


def probes(tmp_path: Path, **env: str) -> dict[str, list]:
    result = run(["-c", PROBES], production(BLUDASH_VAR_DIR=str(tmp_path), **env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_in_production_the_probes_answer_plain_http_and_every_other_url_goes_to_https(tmp_path):
    answers = probes(tmp_path)

    assert answers["healthz"][:2] == [200, ""]
    assert json.loads(answers["healthz"][2]) == {"status": "ok"}
    status, location, body = answers["readyz"]
    # Not ready (nothing is migrated here, no worker runs), but answered, and saying why.
    assert status == 503 and location == ""
    assert "beat" in json.loads(body)["failing"]
    for name in ("page", "login", "metrics", "callback"):
        status, location, _ = answers[name]
        assert status == 301 and location.startswith("https://bludash.example.com/"), name


def test_readyz_names_what_is_down_without_its_address_or_password(tmp_path):
    answers = probes(
        tmp_path,
        DATABASE_URL="postgres://bludash:db-pass-2f9c@127.0.0.1:9/bludash",
        REDIS_URL="redis://:broker-pass-8e1d@127.0.0.1:9/0",
    )

    status, _, body = answers["readyz"]
    assert status == 503
    failing = json.loads(body)["failing"]
    assert failing == ["database", "broker", "beat", "worker"]
    for secret in ("db-pass-2f9c", "broker-pass-8e1d", "127.0.0.1", ":9", "bludash@"):
        assert secret not in body
