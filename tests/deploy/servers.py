"""bludash's production processes started for real by the tests in tests/deploy/: gunicorn with
the repository's configuration, after what the README has an operator run first, and Debian's
nginx with the shipped site and a self-signed certificate in front of it."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter

from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
HOST = "bludash.example.com"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CLIENT = "127.0.0.2"  # the browser's address: loopback, but not the proxy's

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
    with serving(env, port, log):
        yield


@contextmanager
def serving(env: dict[str, str], port: int, log: Path) -> Iterator[None]:
    """gunicorn as the Procfile starts it, on a database made ready already."""
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


def certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.now(UTC)
    names = [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def nginx_config(folder: Path, gunicorn_port: int, http_port: int, https_port: int) -> Path:
    """The site as shipped; only this machine's paths and ports are changed."""
    cert, key = certificate(folder)
    site = (
        (ROOT / "deploy" / "nginx" / "bludash.conf")
        .read_text()
        .replace("/etc/ssl/bludash/fullchain.pem", str(cert))
        .replace("/etc/ssl/bludash/privkey.pem", str(key))
        .replace("/var/log/nginx/", f"{folder}/")
        .replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{gunicorn_port};")
        .replace("listen 80;", f"listen 127.0.0.1:{http_port};")
        .replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    )
    site = re.sub(r"^\s*listen \[::\].*$", "", site, flags=re.MULTILINE)
    (folder / "bludash.conf").write_text(site)
    config = folder / "nginx.conf"
    config.write_text(
        "user root;\n"  # its workers read this run's folder, which only root may
        f"pid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log;\n"
        "daemon off;\n"
        "events {}\n"
        "http {\n"
        f"  client_body_temp_path {folder}/body;\n"
        f"  proxy_temp_path {folder}/proxy;\n"
        f"  include {folder}/bludash.conf;\n"
        "}\n"
    )
    return config


@contextmanager
def nginx(folder: Path, config: Path) -> Iterator[None]:
    """nginx with `config` (nginx_config's), once it has written its pid file."""
    process = subprocess.Popen(  # noqa: S603 (nginx, with a configuration written here)
        [NGINX, "-p", str(folder), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for(lambda: (folder / "nginx.pid").exists() or process.poll() is not None)
        assert process.poll() is None, (folder / "error.log").read_text()
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


class FromClientAddress(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (CLIENT, 0)
        super().init_poolmanager(*args, **kwargs)


def browser_session(folder: Path) -> requests.Session:
    """A browser at CLIENT trusting the certificate in `folder`, sending the site's host name."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(folder / "fullchain.pem")
    session.headers["Host"] = HOST
    session.mount("https://", FromClientAddress())
    session.mount("http://", FromClientAddress())
    return session
