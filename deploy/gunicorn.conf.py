"""gunicorn's configuration for bludash: `gunicorn -c deploy/gunicorn.conf.py`, from the
repository's folder (the Procfile's web process and deploy/systemd/bludash-web.service).

Read from the environment, as bludash's settings are (README, "Running it in production"):

- BLUDASH_WEB_BIND: where to listen, `127.0.0.1:8000` by default (the proxy in front of it
  connects there), or `unix:/run/bludash/web.sock`.
- BLUDASH_WEB_WORKERS: processes, by default twice the CPUs plus one.
- BLUDASH_WEB_THREADS: threads per process, 4 by default. A page answers in milliseconds, but a
  recording streams from Blu for as long as someone listens, and holds its thread meanwhile.
- BLUDASH_WEB_TIMEOUT: seconds a worker may stay silent before it is killed and replaced, 300 by
  default.
"""

import multiprocessing
import os


def _whole_number(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        # One line naming the variable, as bludash's own settings do.
        raise SystemExit(f"bludash: {name} must be a whole number of at least 1, not {value!r}")
    return int(value)


wsgi_app = "bludash.wsgi:application"
bind = [os.environ.get("BLUDASH_WEB_BIND", "").strip() or "127.0.0.1:8000"]
workers = _whole_number("BLUDASH_WEB_WORKERS", 2 * multiprocessing.cpu_count() + 1)
threads = _whole_number("BLUDASH_WEB_THREADS", 4)
worker_class = "gthread"

# The slowest request waits on Blu before its first byte: a probe of the recording's start and
# up to three redirects, each allowed the connect and read timeouts (5 s + 30 s by default), so
# 175 s. A gthread worker keeps telling the arbiter it is alive while its threads stream, so this
# only kills a process that has stopped altogether; it stays well above that wait all the same.
timeout = _whole_number("BLUDASH_WEB_TIMEOUT", 300)
# On a restart, recordings being played get this long to finish before their worker is stopped.
graceful_timeout = 60
# The proxy keeps connections to us open between requests.
keepalive = 75

# Whether a request came over HTTPS and who sent it is bludash's to decide, from
# DJANGO_SECURE_PROXY_SSL_HEADER and BLUDASH_TRUSTED_PROXIES: gunicorn rewrites nothing.
forwarded_allow_ips = ""

# No control socket: by default every gunicorn on the machine would share one under $HOME or
# $XDG_RUNTIME_DIR, and the bludash user has no use for it (systemctl reload sends HUP instead).
control_socket_disable = True

# The access log to stdout, errors to stderr: systemd's journal keeps both
# (journalctl -u bludash-web).
accesslog = "-"
errorlog = "-"
# The proxy's address, what it says the client was, the request (its callback token redacted by
# the logger class), status, bytes, milliseconds, user agent.
access_log_format = '%(h)s %({x-forwarded-for}i)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
logger_class = "calls.security.gunicorn_log.RedactingLogger"
