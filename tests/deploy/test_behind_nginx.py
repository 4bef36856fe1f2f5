"""Debian's nginx with deploy/nginx/bludash.conf and a self-signed certificate, in front of
gunicorn with production settings, driven over HTTPS as a browser and Blu would: the site ends
TLS, says who the client is, refuses what bludash would, and logs no callback token.

Skipped without nginx (apt-get install nginx; .ci/run installs it). About 15 seconds.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.deploy.servers import (
    CLIENT,
    HOST,
    NGINX,
    browser_session,
    gunicorn,
    nginx,
    nginx_config,
    production_env,
)
from tests.helpers import WRONG_PASSWORD, free_port, wait_for

pytestmark = pytest.mark.skipif(
    not Path(NGINX).is_file(), reason="nginx is not installed (apt-get install nginx; CI does)"
)


@dataclass
class Site:
    https: str
    http: str
    folder: Path
    database: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("nginx")
    gunicorn_port, http_port, https_port = free_port(), free_port(), free_port()
    env = production_env(
        folder / "var", gunicorn_port, BLUDASH_TRUSTED_PROXIES="127.0.0.1", BLUDASH_LOG_LEVEL="INFO"
    )
    config = nginx_config(folder, gunicorn_port, http_port, https_port)
    with gunicorn(env, gunicorn_port, folder / "gunicorn.log"), nginx(folder, config):
        yield Site(
            https=f"https://127.0.0.1:{https_port}",
            http=f"http://127.0.0.1:{http_port}",
            folder=folder,
            database=folder / "var" / "bludash.sqlite3",
        )


@pytest.fixture
def browser(site) -> requests.Session:
    """A browser at CLIENT trusting the site's certificate, sending the site's host name."""
    return browser_session(site.folder)


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
