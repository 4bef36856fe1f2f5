"""Debian's nginx with deploy/nginx/bludash.conf and a self-signed certificate, in front of
gunicorn with production settings, driven over HTTPS as a browser and Blu would: the site ends
TLS, says who the client is, refuses what bludash would, and logs no callback token.

Skipped without nginx (apt-get install nginx; .ci/run installs it). About 15 seconds.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter

from tests.deploy.servers import HOST, ROOT, gunicorn, production_env
from tests.helpers import WRONG_PASSWORD, free_port, wait_for

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(
    not Path(NGINX).is_file(), reason="nginx is not installed (apt-get install nginx; CI does)"
)
CLIENT = "127.0.0.2"  # the browser's address: loopback, but not the proxy's


@dataclass
class Site:
    https: str
    http: str
    folder: Path
    database: Path


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


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("nginx")
    gunicorn_port, http_port, https_port = free_port(), free_port(), free_port()
    env = production_env(
        folder / "var", gunicorn_port, BLUDASH_TRUSTED_PROXIES="127.0.0.1", BLUDASH_LOG_LEVEL="INFO"
    )
    config = nginx_config(folder, gunicorn_port, http_port, https_port)
    with gunicorn(env, gunicorn_port, folder / "gunicorn.log"):
        nginx = subprocess.Popen(  # noqa: S603 (nginx, with a configuration written here)
            [NGINX, "-p", str(folder), "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            assert wait_for(lambda: (folder / "nginx.pid").exists() or nginx.poll() is not None)
            assert nginx.poll() is None, (folder / "error.log").read_text()
            yield Site(
                https=f"https://127.0.0.1:{https_port}",
                http=f"http://127.0.0.1:{http_port}",
                folder=folder,
                database=folder / "var" / "bludash.sqlite3",
            )
        finally:
            nginx.terminate()
            nginx.wait(timeout=30)


class FromClientAddress(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (CLIENT, 0)
        super().init_poolmanager(*args, **kwargs)


@pytest.fixture
def browser(site) -> requests.Session:
    """A browser at CLIENT trusting the site's certificate, sending the site's host name."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(site.folder / "fullchain.pem")
    session.headers["Host"] = HOST
    session.mount("https://", FromClientAddress())
    session.mount("http://", FromClientAddress())
    return session


def test_plain_http_is_sent_to_https_by_the_proxy(site, browser):
    answer = browser.get(f"{site.http}/calls/", allow_redirects=False, timeout=10)

    assert answer.status_code == 301
    assert answer.headers["Location"] == f"https://{HOST}/calls/"


def test_over_https_the_sign_in_page_and_its_static_files_are_served(site, browser):
    page = browser.get(f"{site.https}/accounts/login/", timeout=10)
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', page.text)

    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert stylesheet, page.text
    css = browser.get(f"{site.https}{stylesheet.group(1)}", timeout=10)
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert browser.get(f"{site.https}/static/", timeout=10).status_code == 404  # no listing


def test_a_failed_sign_in_through_the_proxy_is_audited_with_the_clients_address(site, browser):
    page = browser.get(f"{site.https}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    answer = browser.post(
        f"{site.https}/accounts/login/",
        data={"csrfmiddlewaretoken": token, "username": "nobody", "password": WRONG_PASSWORD},
        headers={"Referer": f"https://{HOST}/accounts/login/", "Origin": f"https://{HOST}"},
        timeout=10,
    )

    assert answer.status_code == 200  # the form again, saying the password was wrong
    with sqlite3.connect(site.database) as database:
        addresses = database.execute(
            "SELECT ip FROM calls_auditevent WHERE action = 'sign_in_failed'"
        ).fetchall()
    assert addresses == [(CLIENT,)]  # not the proxy's 127.0.0.1


def test_a_callback_is_logged_by_nginx_and_gunicorn_without_its_token(site, browser):
    token = secrets.token_urlsafe(24)

    answer = browser.post(f"{site.https}/blu/callback/{token}/", data=b"{}", timeout=10)

    assert answer.status_code == 404  # nobody's token, answered by bludash
    access_log = site.folder / "bludash.access.log"
    assert wait_for(lambda: '"POST /blu/callback/[token]/ HTTP/1.1" 404' in access_log.read_text())
    logs = [access_log, site.folder / "gunicorn.log", site.folder / "bludash.error.log"]
    assert all(token not in log.read_text() for log in logs if log.exists())


def test_a_callback_body_larger_than_bludash_accepts_is_refused_by_the_proxy(site, browser):
    token = secrets.token_urlsafe(24)

    answer = browser.post(
        f"{site.https}/blu/callback/{token}/", data=b"x" * (256 * 1024 + 1), timeout=10
    )

    assert answer.status_code == 413
    assert token not in (site.folder / "gunicorn.log").read_text()  # it never reached bludash
    assert token not in (site.folder / "bludash.error.log").read_text()
