"""What an operator installs (Procfile, deploy/systemd/, deploy/nginx/) agrees with itself and
with bludash: the same three commands everywhere, none as root, one beat, and a proxy that passes
what bludash accepts and nothing it would not."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from tests.deploy import servers

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SITE = DEPLOY / "nginx" / "bludash.conf"
INSTALLED_AT = "/opt/bludash"  # where the units and the README put the repository


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(
        (part.strip() for part in line.split(":", 1))
        for line in lines
        if line.strip() and not line.startswith("#")
    )


def unit(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys keep case
    parser.read_string((DEPLOY / "systemd" / f"bludash-{name}.service").read_text())
    return parser["Service"]


def nginx_directive(name: str, within: str = "") -> list[str]:
    """Every value of `name` in the site, or only inside the block that opens with `within`."""
    text = SITE.read_text()
    if within:
        text = text[text.index(within) :]
        text = text[: text.index("}")]
    return re.findall(rf"^\s*{name}\s+([^;]+);", text, re.MULTILINE)


def size_in_bytes(nginx_size: str) -> int:
    number, unit_ = re.fullmatch(r"(\d+)([kKmM]?)", nginx_size).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit_.lower()]


def test_the_procfile_runs_a_web_server_a_worker_and_beat():
    processes = procfile()

    assert sorted(processes) == ["beat", "web", "worker"]
    assert processes["web"] == ".venv/bin/gunicorn -c deploy/gunicorn.conf.py"
    assert processes["worker"].startswith(".venv/bin/celery -A bludash worker")
    assert processes["beat"].startswith(".venv/bin/celery -A bludash beat")


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_each_systemd_unit_runs_the_procfile_command_from_the_installed_repository(name):
    service = unit(name)

    assert service["WorkingDirectory"] == INSTALLED_AT
    assert service["ExecStart"] == f"{INSTALLED_AT}/{procfile()[name]}"


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_no_unit_runs_as_root_and_all_read_the_same_settings(name):
    service = unit(name)

    assert service["User"] == service["Group"] == "bludash"
    assert service["EnvironmentFile"] == "/etc/bludash/bludash.env"
    assert service["StateDirectory"] == "bludash"  # /var/lib/bludash, the BLUDASH_VAR_DIR


def test_beat_is_one_unit_not_a_template_and_no_other_unit_runs_it():
    units = sorted(path.name for path in (DEPLOY / "systemd").iterdir())

    assert units == ["bludash-beat.service", "bludash-web.service", "bludash-worker.service"]
    assert [name for name in ("web", "worker", "beat") if " beat" in unit(name)["ExecStart"]] == [
        "beat"
    ]


def test_the_proxy_passes_to_where_gunicorn_listens():
    config = (DEPLOY / "gunicorn.conf.py").read_text()

    assert '"127.0.0.1:8000"' in config
    assert nginx_directive("server", within="upstream bludash") == ["127.0.0.1:8000"]
    assert set(nginx_directive("proxy_pass")) == {"http://bludash"}


def test_the_proxy_accepts_the_bodies_bludash_accepts_and_no_larger():
    callback_limit = nginx_directive("client_max_body_size", within="location /blu/callback/")

    assert [size_in_bytes(size) for size in callback_limit] == [settings.BLUDASH_CALLBACK_MAX_BYTES]
    assert size_in_bytes(nginx_directive("client_max_body_size")[0]) == (
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    )


def test_the_proxy_says_https_and_who_the_client_is_and_serves_nothing_from_disk():
    headers = dict(value.split(None, 1) for value in nginx_directive("proxy_set_header"))

    assert headers["X-Forwarded-Proto"] == "https"
    assert headers["X-Forwarded-For"] == "$remote_addr"  # the client's own, replacing theirs
    for serves_files in ("root", "alias", "try_files", "index"):
        assert not nginx_directive(serves_files), serves_files
    assert nginx_directive("autoindex") == ["off"]


def test_the_proxy_logs_callback_urls_without_their_token():
    logs = nginx_directive("access_log")

    assert logs and all(line.endswith(" bludash") for line in logs)  # the redacting format
    assert "$request " not in SITE.read_text()  # the raw request line would hold the token


@pytest.mark.skipif(
    shutil.which("nginx") is None, reason="nginx is not installed (apt-get install nginx; CI does)"
)
def test_nginx_accepts_the_site(tmp_path):
    cert, key = servers.certificate(tmp_path)
    # The machine's paths (certificate, logs) made this run's; nothing else of the site changes.
    site = (
        SITE.read_text()
        .replace("/etc/ssl/bludash/fullchain.pem", str(cert))
        .replace("/etc/ssl/bludash/privkey.pem", str(key))
        .replace("/var/log/nginx/", f"{tmp_path}/")
    )
    (tmp_path / "bludash.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log;\n"
        "events {}\n"
        f"http {{ access_log off; include {tmp_path}/bludash.conf; }}\n"
    )

    result = subprocess.run(  # noqa: S603 (nginx, with a configuration written here)
        [
            shutil.which("nginx") or "nginx",
            "-t",
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
