"""Settings for bludash, read from the environment.

Every variable is documented in README.md and .env.example. The defaults let a fresh clone run
(SQLite under var/, a broker that needs no server); with DJANGO_DEBUG off the app refuses to start
without its secrets. A value that cannot be read fails loudly and names its variable.
"""

import base64
import hashlib
import ipaddress
import json
import logging
import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str | None = None) -> str | None:
    """The variable's value; NAME_FILE names a file holding it (for secrets mounted as files)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE: cannot read {file_name}: {exc.strerror}"
            ) from exc
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (1/0, yes/no, on/off), not {value!r}")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def env_float(name: str, default: float) -> float:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None
    if number < 0:
        raise ImproperlyConfigured(f"{name} must not be negative, not {number}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_json_object(name: str, default: dict) -> dict:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f'{name} must be a JSON object, like {{"code": 0}}')
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, "").strip().lower() or default
    if value not in choices:
        raise ImproperlyConfigured(
            f"{name} must be one of {', '.join(choices)}, not {value[:20]!r}"
        )
    return value


def env_redis_url(name: str, default: str | None = None, *, unix: bool = False) -> str | None:
    """A Redis server's address: redis:// or rediss://, a host, optionally a port and a database
    number (or, where `unix`, unix:// and a socket's path). Checked here because Celery and the
    cache would take anything and fail on every use instead."""
    value = env_str(name, default)
    if value is None:
        return None
    parts = urlsplit(value)
    schemes = {"redis", "rediss", "unix"} if unix else {"redis", "rediss"}
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number from 0 to 65535)
        readable = parts.scheme in schemes and (
            bool(parts.path)
            if parts.scheme == "unix"
            else bool(parts.hostname) and re.fullmatch(r"(/\d*)?", parts.path) is not None
        )
    except ValueError:
        readable = False
    if not readable:
        # The password is a secret: it is left out of the message.
        shown = value.replace(f":{parts.password}@", ":***@") if parts.password else value
        raise ImproperlyConfigured(
            f"{name} must be a Redis URL like redis://127.0.0.1:6379/0"
            + (" or unix:///path/to/redis.sock" if unix else "")
            + f", not {shown!r}"
        )
    return value


# Where the SQLite database, the collected static files, the filesystem broker, the file cache
# and demo files live.
_var_dir = env_str("BLUDASH_VAR_DIR")
VAR_DIR = Path(_var_dir or BASE_DIR / "var")


def var_dir(path: Path) -> Path:
    """`path` (VAR_DIR or a directory in it), made if missing; one that cannot be made (a file's
    path, a read-only disk) names BLUDASH_VAR_DIR instead of ending the start in a traceback."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"BLUDASH_VAR_DIR: cannot create {path}: {exc.strerror or exc}"
        ) from None
    return path


DEBUG = env_bool("DJANGO_DEBUG", True)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-for-debug"  # noqa: S105

# Blu app keys are encrypted at rest with these Fernet keys, newest first (rotation re-encrypts
# with the first and keeps reading with the rest).
BLUDASH_FERNET_KEYS = env_list("BLUDASH_FERNET_KEYS", [])
if not BLUDASH_FERNET_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("BLUDASH_FERNET_KEYS must be set when DJANGO_DEBUG is off")
    # A development key derived from the development secret, so a fresh clone just works.
    BLUDASH_FERNET_KEYS = [
        base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
    ]

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
if _var_dir is None and not DEBUG:
    # The repository's var/ is the demo's, which `make clean-demo` deletes: production's
    # database (SQLite by default) and static files never live there by accident.
    raise ImproperlyConfigured(
        "BLUDASH_VAR_DIR must be set when DJANGO_DEBUG is off (e.g. /var/lib/bludash): the "
        "default var/ in the repository is the demo's, which make clean-demo deletes"
    )
if not ALLOWED_HOSTS:
    # Django would start and answer 400 to every request, Blu's callbacks included.
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG is off (the site's host names, "
        "comma-separated)"
    )

for _position, _key in enumerate(BLUDASH_FERNET_KEYS, 1):
    try:
        Fernet(_key.encode())
    except ValueError:
        raise ImproperlyConfigured(
            f"BLUDASH_FERNET_KEYS: key {_position} is not a Fernet key (make one with python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        ) from None

TIME_ZONE = env_str("BLUDASH_TIME_ZONE", "UTC") or "UTC"
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"BLUDASH_TIME_ZONE must be an IANA time zone such as Asia/Colombo, not {TIME_ZONE!r}"
    ) from None
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = False
# Dates and times as the pages show them (2024-01-02 13:45:06), in the admin too: Django's own
# English formats ("Jan. 2, 2024, 1:45 p.m.") win over DATETIME_FORMAT settings.
FORMAT_MODULE_PATH = ["calls.dashboard.formats"]

INSTALLED_APPS = [
    "bludash.admin.BludashAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tables2",
    "django_filters",
    "django_celery_beat",
    "csp",
    "axes",
    "calls",
]

MIDDLEWARE = [
    # First: /healthz/ and /readyz/ answer over plain HTTP, to any Host, with no session.
    "calls.endpoints.probes.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A person's request moves the session's end BLUDASH_SESSION_IDLE_HOURS ahead.
    "calls.security.session_idle.SessionActivityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A sign-in the cache cannot count answers 503 saying why, not 500.
    "calls.security.signin_outage.SignInOutageMiddleware",
    # A sign-in try that neither failed nor signed anyone in is taken back off its counts.
    "calls.security.signin_throttle.UnfinishedTryMiddleware",
    # Last, so that the locked-out page it puts in place of the sign-in form gets every header.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "bludash.urls"
WSGI_APPLICATION = "bludash.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "calls.dashboard.context_processors.company",
            ],
        },
    },
]

DEFAULT_SQLITE_URL = f"sqlite:///{VAR_DIR / 'bludash.sqlite3'}"
try:
    _database = dj_database_url.parse(env_str("DATABASE_URL", DEFAULT_SQLITE_URL) or "")
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL cannot be read: {exc}") from None
if _database["ENGINE"] == "django.db.backends.sqlite3":
    var_dir(VAR_DIR)
    # The web server, the worker and beat share one file: WAL lets readers go on while one writes,
    # IMMEDIATE transactions take the write lock up front (no deadlock on lock upgrade), and the
    # timeout makes a writer wait its turn instead of failing with "database is locked".
    _database["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # Tests run threads (a live sandbox, concurrent syncs): a file shares better than memory.
    # Named per process, so two test runs on one machine never share (and clobber) one file.
    _database["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    _database["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60)
    _database["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# The throttle's backend goes first: it counts each try, and refuses a locked-out one, before any
# password is checked (calls/security/signin_throttle.py).
AUTHENTICATION_BACKENDS = [
    "calls.security.signin_throttle.SignInTryBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "calls:overview"
LOGOUT_REDIRECT_URL = "login"

# The conclusions form posts about 9 fields per code; Django's default of 1,000 would cap the
# dictionary at about 110 codes, and Blu's robots keep adding codes.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = var_dir(VAR_DIR / "staticfiles")  # whitenoise warns about a missing one


def _export_storage() -> dict[str, object]:
    """Where export files are kept: a folder under BLUDASH_VAR_DIR, or any Django storage named
    by its dotted path with its options as a JSON object (django-storages' S3Storage and a
    bucket, say). Every web process and export worker must reach the same one."""
    backend = env_str("BLUDASH_EXPORT_STORAGE_BACKEND")
    options_text = env_str("BLUDASH_EXPORT_STORAGE_OPTIONS")
    if backend is not None and not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+", backend):
        raise ImproperlyConfigured(
            "BLUDASH_EXPORT_STORAGE_BACKEND must be a storage class's dotted path like "
            f"storages.backends.s3.S3Storage, not {backend!r}"
        )
    options: dict[str, object] = {}
    if options_text is not None:
        try:
            options = json.loads(options_text)
        except ValueError:
            options = None  # type: ignore[assignment]
        if not isinstance(options, dict):
            # Options may hold credentials: the value is left out of the message.
            raise ImproperlyConfigured(
                "BLUDASH_EXPORT_STORAGE_OPTIONS must be a JSON object of the storage's options, "
                'like {"bucket_name": "bludash-exports"}'
            )
    if backend is None:
        backend = "django.core.files.storage.FileSystemStorage"
        options = {"location": str(var_dir(VAR_DIR / "exports")), **options}
    return {"BACKEND": backend, "OPTIONS": options}


STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
    # Export files built in the background (calls/exports/), fetched only through their page.
    "exports": _export_storage(),
}

# --- HTTPS and browser protections (`manage.py check --deploy` passes with debug off) ----------
# Debug serves plain http://127.0.0.1 (make demo, tests); production is HTTPS only.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = not DEBUG
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # no script of ours reads it: forms carry the token
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Browsers remember HSTS for this long: one year in production, none in debug (a browser would
# then refuse plain http://127.0.0.1 for other projects too).
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Preloading is a promise to browser vendors that is slow to take back, so it is opted into.
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
if SECURE_HSTS_SECONDS and not SECURE_HSTS_PRELOAD:
    # "Not preloaded" is the choice above, not an oversight.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
# Behind a proxy that ends TLS, Django sees plain HTTP: the header the proxy sets (and strips from
# clients) says the request came over HTTPS. "X-Forwarded-Proto" means "X-Forwarded-Proto: https".
if _proxy_header := env_str("DJANGO_SECURE_PROXY_SSL_HEADER"):
    _name, _, _value = (part.strip() for part in _proxy_header.partition(":"))
    if not re.fullmatch(r"[A-Za-z0-9-]+", _name):
        raise ImproperlyConfigured(
            "DJANGO_SECURE_PROXY_SSL_HEADER must be a header name, optionally with its value, "
            f"like X-Forwarded-Proto or X-Forwarded-Ssl: on, not {_proxy_header!r}"
        )
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _name.upper().replace("-", "_"), _value or "https")
# Behind that proxy every request comes from its address: the proxy names the client in
# BLUDASH_CLIENT_IP_HEADER, read only on requests from these addresses or networks, so that
# sign-in limits and the audit log see people, not the proxy (calls/security/client_address.py).
BLUDASH_TRUSTED_PROXIES = env_list("BLUDASH_TRUSTED_PROXIES", [])
for _proxy in BLUDASH_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            "BLUDASH_TRUSTED_PROXIES must be addresses or networks like 127.0.0.1 or 10.0.0.0/8, "
            f"not {_proxy!r}"
        ) from None
BLUDASH_CLIENT_IP_HEADER = env_str("BLUDASH_CLIENT_IP_HEADER", "X-Forwarded-For") or ""
if not re.fullmatch(r"[A-Za-z0-9-]+", BLUDASH_CLIENT_IP_HEADER):
    raise ImproperlyConfigured(
        "BLUDASH_CLIENT_IP_HEADER must be a header name like X-Forwarded-For or X-Real-IP, "
        f"not {BLUDASH_CLIENT_IP_HEADER!r}"
    )

# Every page works under this: scripts and styles are files of ours, charts are SVG with classes,
# recordings are streamed from our own URL. Templates added to the admin keep to it too.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "media-src": [SELF],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# --- Signing in ----------------------------------------------------------------------------------
# Failed sign-ins lock the username (whoever tries it, from wherever) and, with a higher limit,
# the address they come from (many usernames tried from one place), each for the cool-off.
BLUDASH_LOGIN_FAILURES_PER_USER = env_int("BLUDASH_LOGIN_FAILURES_PER_USER", 5, minimum=1)
BLUDASH_LOGIN_FAILURES_PER_ADDRESS = env_int("BLUDASH_LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
BLUDASH_LOGIN_COOLOFF = timedelta(minutes=env_int("BLUDASH_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
# A session ends after this many hours in which its person used no page (a page's own live
# refresh is not use: calls/security/session_idle.py), instead of Django's two weeks.
BLUDASH_SESSION_IDLE_HOURS = env_int("BLUDASH_SESSION_IDLE_HOURS", 8, minimum=1)
SESSION_COOKIE_AGE = BLUDASH_SESSION_IDLE_HOURS * 3600
# django-axes supplies the backend, the middleware and the user_locked_out signal; the counting
# is calls/security/signin_throttle.py's, because axes holds one limit for every parameter it
# counts by.
AXES_HANDLER = "calls.security.signin_throttle.LoginThrottle"
AXES_LOCKOUT_CALLABLE = "calls.security.lockout_view.locked_out"
# The address the audit log records too: the client's, behind a trusted proxy.
AXES_CLIENT_IP_CALLABLE = "calls.security.client_address.client_ip"
AXES_ENABLE_ADMIN = False  # its tables stay empty: the counts live in the cache
AXES_VERBOSE = False

# --- Email (alerts to admins) --------------------------------------------------------------------
ADMINS = [(address, address) for address in env_list("BLUDASH_ADMIN_EMAILS", [])]
for _name, _address in ADMINS:
    if "@" not in _address:
        raise ImproperlyConfigured(
            f"BLUDASH_ADMIN_EMAILS must be email addresses separated by commas, not {_address!r}"
        )
EMAIL_HOST = env_str("DJANGO_EMAIL_HOST", "") or ""
# Without a mail server, emails are written to the log (check --deploy warns if admins expect them).
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
# A mail server speaks TLS from the first byte (SSL, port 465) or switches to it after saying
# hello (STARTTLS, port 587): one or the other, never both.
EMAIL_USE_SSL = env_bool("DJANGO_EMAIL_USE_SSL", False)
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", not EMAIL_USE_SSL)
if EMAIL_USE_SSL and EMAIL_USE_TLS:
    raise ImproperlyConfigured(
        "DJANGO_EMAIL_USE_SSL and DJANGO_EMAIL_USE_TLS are both on: a mail server takes one "
        "(SSL on port 465, STARTTLS on 587); unset DJANGO_EMAIL_USE_TLS for SSL"
    )
EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 465 if EMAIL_USE_SSL else 587, minimum=1)
EMAIL_HOST_USER = env_str("DJANGO_EMAIL_HOST_USER", "") or ""
EMAIL_HOST_PASSWORD = env_str("DJANGO_EMAIL_HOST_PASSWORD", "") or ""
EMAIL_TIMEOUT = 20  # seconds: a mail server that stops answering must not hold a worker
DEFAULT_FROM_EMAIL = env_str("DJANGO_DEFAULT_FROM_EMAIL", "bludash@localhost") or ""
SERVER_EMAIL = env_str("DJANGO_SERVER_EMAIL", DEFAULT_FROM_EMAIL) or ""
EMAIL_SUBJECT_PREFIX = "[bludash] "

# Shared by every process (login throttling, callback rate limits): Redis when there is one,
# else files under var/, which the web processes of one machine share too.
# BLUDASH_CACHE_URL keeps them apart from the broker's database when wanted (CI and tests do).
REDIS_URL = env_redis_url("REDIS_URL")
if CACHE_URL := env_redis_url("BLUDASH_CACHE_URL", REDIS_URL, unix=True):
    CACHES = {
        # Django's RedisCache, keeping its redis-py client instead of making one a call.
        "default": {"BACKEND": "bludash.redis_cache.SharedClientRedisCache", "LOCATION": CACHE_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

DJANGO_TABLES2_TEMPLATE = "django_tables2/table.html"

LOG_LEVEL = (env_str("BLUDASH_LOG_LEVEL", "INFO") or "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"BLUDASH_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {LOG_LEVEL!r}"
    )


def _not_reported_by_django_request(record: logging.LogRecord) -> bool:
    """False for runserver's access line of an answer of 400 or more: Django's request logger
    (django.request, django.security.*) has reported that one already, with its reason."""
    is_access_line = record.msg == '"%s" %s %s'  # http.server's log_request: line, code, size
    return not (is_access_line and getattr(record, "status_code", 0) >= 400)


# One handler, at the root: every line is formatted alike and BLUDASH_LOG_LEVEL rules them all.
# Django's own logging adds a console handler of its own to "django" (unformatted, so with debug
# on each 4xx was written twice) and one to "django.server" that does not propagate; both are
# replaced here, so runserver logs each request once, as the rest. Errors are still emailed to
# ADMINS by the handler Django's default puts on "django".
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {
        "redact_callback_tokens": {"()": "calls.security.log_redaction.RedactCallbackTokens"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
        "not_reported_by_django_request": {
            "()": "django.utils.log.CallbackFilter",
            "callback": _not_reported_by_django_request,
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "level": LOG_LEVEL},
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "urllib3": {"level": "WARNING"},
        "django": {"handlers": ["mail_admins"], "level": "INFO", "propagate": True},
        # Logger-level filters apply to every handler, whoever attaches it, and before the
        # record propagates to the root's.
        "django.request": {"filters": ["redact_callback_tokens"]},
        "django.server": {
            "filters": ["redact_callback_tokens", "not_reported_by_django_request"],
            "propagate": True,
        },
    },
}

# --- Blu ---------------------------------------------------------------------------------------
# Blu publishes no maximum pageSize and may quietly return fewer records than asked for.
# The extVars keys that name a borrower, tried in order (an account may list its own); Blu's
# userId is the fallback. Phones are masked by Blu and never a key.
BLUDASH_BORROWER_KEYS = env_list("BLUDASH_BORROWER_KEYS", ["uniqueId"])
for _key_name in BLUDASH_BORROWER_KEYS:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", _key_name):
        raise ImproperlyConfigured(
            "BLUDASH_BORROWER_KEYS must be extVars key names separated by commas, like "
            f"uniqueId,customerNo, not {_key_name[:40]!r}"
        )
# Promises to pay (calls/promises/): the window of a promise with no clear time (HPTP, or no
# payment-time slot), the grace after a window's end in which a repayment still keeps it, and the
# extVars key holding what the borrower owes (empty: unknown, so no promise is "partly kept").
BLUDASH_PROMISE_DEFAULT_DAYS = env_int("BLUDASH_PROMISE_DEFAULT_DAYS", 3, minimum=1)
BLUDASH_PROMISE_GRACE_HOURS = env_int("BLUDASH_PROMISE_GRACE_HOURS", 24)
BLUDASH_PROMISE_AMOUNT_KEY = os.environ.get("BLUDASH_PROMISE_AMOUNT_KEY", "").strip()
# The stop list (calls/contact/stop_list.py): a borrower is stopped after this many calls coded
# "not the right person", or this many calls that found a dead line. 0 turns a rule off.
BLUDASH_STOP_WRONG_PERSON_CODES = env_list(
    "BLUDASH_STOP_WRONG_PERSON_CODES", ["NotOneself", "Donotknow"]
)
BLUDASH_STOP_WRONG_PERSON_TIMES = env_int("BLUDASH_STOP_WRONG_PERSON_TIMES", 3)
BLUDASH_STOP_DEAD_LINE_CODES = env_list("BLUDASH_STOP_DEAD_LINE_CODES", ["D03", "D04"])
BLUDASH_STOP_DEAD_LINE_TIMES = env_int("BLUDASH_STOP_DEAD_LINE_TIMES", 2)
# Is the robot right? (calls/review/): each day's sample takes this many calls of each conclusion
# code (twice as many of promise and complaint codes), half of a promise code's from promises
# shorter than BLUDASH_REVIEW_SHORT_PROMISE_SECONDS (0: no such preference).
BLUDASH_REVIEW_SAMPLE_PER_CODE = env_int("BLUDASH_REVIEW_SAMPLE_PER_CODE", 5, minimum=1)
BLUDASH_REVIEW_SHORT_PROMISE_SECONDS = env_int("BLUDASH_REVIEW_SHORT_PROMISE_SECONDS", 30)
# Blu's pre-dial check (calls/endpoints/predial.py). Blu publishes only an example of a cancel
# answer, {"code": 0, "message": "Cancel call"}, neither the go-ahead nor which code means which:
# both bodies are JSON objects set here. The cancel answer's message gets ": <reason>" appended.
# A check bludash cannot decide (no such borrower, the database down) gets the answer named by
# BLUDASH_PREDIAL_UNDECIDED: "go" (the default: a robot that calls is what Blu does without us)
# or "cancel".
BLUDASH_PREDIAL_CANCEL_BODY = env_json_object(
    "BLUDASH_PREDIAL_CANCEL_BODY", {"code": 0, "message": "Cancel call"}
)
BLUDASH_PREDIAL_GO_BODY = env_json_object("BLUDASH_PREDIAL_GO_BODY", {"code": 1, "message": "Call"})
BLUDASH_PREDIAL_UNDECIDED = env_choice("BLUDASH_PREDIAL_UNDECIDED", "go", ("go", "cancel"))
BLUDASH_PREDIAL_MAX_BYTES = env_int("BLUDASH_PREDIAL_MAX_BYTES", 16 * 1024, minimum=1024)
# Per account, over every web process: Blu asks once per dial, so at a campaign's pace.
BLUDASH_PREDIAL_RATE_PER_MINUTE = env_int("BLUDASH_PREDIAL_RATE_PER_MINUTE", 30000, minimum=1)
# The largest body the lender's repayments endpoint reads (calls/endpoints/repayments.py).
BLUDASH_REPAYMENTS_MAX_BYTES = env_int("BLUDASH_REPAYMENTS_MAX_BYTES", 1024 * 1024, minimum=1024)
# Refused repayment tokens an address may send a minute; past it, every request from that
# address is answered 429 until the minute ends, so tokens cannot be guessed at speed. The
# lender's systems send one valid token, never many wrong ones.
BLUDASH_REPAYMENTS_BAD_TOKENS_PER_MINUTE = 10
BLUDASH_PAGE_SIZE = env_int("BLUDASH_PAGE_SIZE", 200, minimum=1)
# Pages a sync writes in one transaction when they arrived while its last write ran: a write's
# statements cost much the same for four pages as for one (bench/README.md). 1: page by page.
BLUDASH_SYNC_WRITE_PAGES = env_int("BLUDASH_SYNC_WRITE_PAGES", 4, minimum=1)
# A guard against a Blu that ignores pageNo and never returns an empty page.
BLUDASH_MAX_PAGES = env_int("BLUDASH_MAX_PAGES", 100_000, minimum=1)
BLUDASH_BLU_CONNECT_TIMEOUT = env_float("BLUDASH_BLU_CONNECT_TIMEOUT", 5.0)
BLUDASH_BLU_READ_TIMEOUT = env_float("BLUDASH_BLU_READ_TIMEOUT", 30.0)
# Query retries inside one sync attempt: attempts and the first backoff in seconds (doubling,
# with jitter, capped).
BLUDASH_BLU_RETRIES = env_int("BLUDASH_BLU_RETRIES", 4, minimum=1)
BLUDASH_BLU_BACKOFF = env_float("BLUDASH_BLU_BACKOFF", 0.5)
BLUDASH_BLU_BACKOFF_MAX = env_float("BLUDASH_BLU_BACKOFF_MAX", 8.0)
# Blu only answers for the last 45 days; a task older than that stops being polled.
BLUDASH_QUERY_WINDOW_DAYS = env_int("BLUDASH_QUERY_WINDOW_DAYS", 45, minimum=1)
# Seeds the beat schedule on first migrate; admins change it in the admin afterwards.
BLUDASH_POLL_SECONDS = env_int("BLUDASH_POLL_SECONDS", 300, minimum=5)
# A task whose calls have all ended and which brought nothing new is polled this often instead.
BLUDASH_QUIET_POLL_SECONDS = env_int("BLUDASH_QUIET_POLL_SECONDS", 3600, minimum=0)
# A task Blu says it does not know (made up, mistyped, not made yet) is asked again after this
# many seconds, then after twice as long each time, and no longer polled once Blu has said so
# this many times in a row: registering it again (or `blu sync --task`) starts over.
BLUDASH_UNKNOWN_TASK_RETRY_SECONDS = env_int("BLUDASH_UNKNOWN_TASK_RETRY_SECONDS", 900, minimum=1)
BLUDASH_UNKNOWN_TASK_TRIES = env_int("BLUDASH_UNKNOWN_TASK_TRIES", 4, minimum=1)
# Blu is one service per account: at most this many requests to one account at once, from every
# worker and thread on every machine (calls/blu/slots.py). A request waits this many seconds for
# a free slot, then fails as a temporary error ("Blu busy for this account"), which is retried.
BLUDASH_BLU_MAX_CONCURRENT = env_int("BLUDASH_BLU_MAX_CONCURRENT", 4, minimum=1)
BLUDASH_BLU_SLOT_WAIT_SECONDS = env_float("BLUDASH_BLU_SLOT_WAIT_SECONDS", 10.0)
# Where the slots are counted: the cache's Redis, which every process shares. Without Redis (the
# SQLite demo) each process counts its own, so the limit holds per process only.
BLUDASH_BLU_SLOTS_URL = CACHE_URL
# A slot covers one request, so it is never renewed: it ends with the request, or after this long
# if its holder died mid-request. It must outlast a request that times out.
_SLOWEST_REQUEST = BLUDASH_BLU_CONNECT_TIMEOUT + BLUDASH_BLU_READ_TIMEOUT
BLUDASH_BLU_SLOT_SECONDS = env_int(
    "BLUDASH_BLU_SLOT_SECONDS", int(2 * _SLOWEST_REQUEST) + 1, minimum=1
)
if BLUDASH_BLU_SLOT_SECONDS <= _SLOWEST_REQUEST:
    raise ImproperlyConfigured(
        f"BLUDASH_BLU_SLOT_SECONDS must exceed a request that times out ({_SLOWEST_REQUEST:g}s: "
        "BLUDASH_BLU_CONNECT_TIMEOUT + BLUDASH_BLU_READ_TIMEOUT)"
    )
# A sync renews its lease before a page once a tenth of it (at most 5 s) has passed since the
# last renewal (calls/ingest/sync.py); one that has not for this long is taken as dead and its
# task may be synced again. It must outlast the slowest page: every attempt waiting for a slot,
# then timing out.
_SLOWEST_PAGE = BLUDASH_BLU_RETRIES * (
    BLUDASH_BLU_SLOT_WAIT_SECONDS + _SLOWEST_REQUEST + BLUDASH_BLU_BACKOFF_MAX
)
BLUDASH_SYNC_LEASE_SECONDS = env_int(
    "BLUDASH_SYNC_LEASE_SECONDS", max(300, int(2 * _SLOWEST_PAGE)), minimum=5
)
if BLUDASH_SYNC_LEASE_SECONDS <= _SLOWEST_PAGE:
    raise ImproperlyConfigured(
        f"BLUDASH_SYNC_LEASE_SECONDS must exceed the slowest page fetch ({_SLOWEST_PAGE:.0f}s: "
        "BLUDASH_BLU_RETRIES x (BLUDASH_BLU_SLOT_WAIT_SECONDS + connect + read timeouts + "
        "BLUDASH_BLU_BACKOFF_MAX))"
    )
# A large first load outgrows the planner's statistics long before autovacuum notices (and some
# servers run without it): the sync refreshes them itself after this many new calls.
BLUDASH_ANALYZE_EVERY_ROWS = env_int("BLUDASH_ANALYZE_EVERY_ROWS", 100_000, minimum=1)
# One record per callback request: 256 KiB leaves room for scripts and slots.
BLUDASH_CALLBACK_MAX_BYTES = env_int("BLUDASH_CALLBACK_MAX_BYTES", 256 * 1024, minimum=1024)
# How often the sync-health strip and the overview's numbers refresh in an open page.
BLUDASH_LIVE_REFRESH_SECONDS = env_int("BLUDASH_LIVE_REFRESH_SECONDS", 30, minimum=1)
# Hosts besides each account's API host that recordings may be fetched from (Blu's CDN, say),
# compared with the host and port of each recording's URL: an entry with a scheme or a path
# would never match, so it is refused.
BLUDASH_RECORDING_HOSTS = [host.lower() for host in env_list("BLUDASH_RECORDING_HOSTS", [])]
for _host in BLUDASH_RECORDING_HOSTS:
    _name, _, _port = _host.rpartition(":") if re.search(r":\d+$", _host) else (_host, "", "")
    if not (
        re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\]", _name)
        and (not _port or 0 < int(_port) < 65536)
    ):
        raise ImproperlyConfigured(
            "BLUDASH_RECORDING_HOSTS must be hosts or host:port, without scheme or path "
            f"(like cdn.blu.example or cdn.blu.example:8443), not {_host!r}"
        )
# Where callback URLs printed for Blu's console point.
_public_url = env_str("BLUDASH_PUBLIC_URL")
if _public_url is None and not DEBUG:
    # The development default would be printed as the callback URL to paste into Blu's console.
    raise ImproperlyConfigured(
        "BLUDASH_PUBLIC_URL must be set when DJANGO_DEBUG is off (the site's https:// address, "
        "where Blu sends callbacks)"
    )
BLUDASH_PUBLIC_URL = (_public_url or "http://127.0.0.1:8000").rstrip("/")
_public = urlsplit(BLUDASH_PUBLIC_URL)
if _public.scheme not in {"http", "https"} or not _public.netloc:
    raise ImproperlyConfigured(
        "BLUDASH_PUBLIC_URL must be the site's address like https://bludash.example.com, "
        f"not {BLUDASH_PUBLIC_URL!r}"
    )
# Forms posted through a proxy that rewrites the Host header still pass the CSRF origin check.
CSRF_TRUSTED_ORIGINS = [f"{_public.scheme}://{_public.netloc}"]
# An account whose syncs fail this many times in a row is flagged to admins on every page and
# in an email to them.
BLUDASH_ACCOUNT_FAILURE_ALERT = env_int("BLUDASH_ACCOUNT_FAILURE_ALERT", 5, minimum=1)
# A call Blu still reports in progress this long after it started is stuck.
BLUDASH_STUCK_CALL_HOURS = env_int("BLUDASH_STUCK_CALL_HOURS", 24, minimum=1)
# Callbacks accepted per account per minute; more are answered 429 (Blu retries, polls fill gaps).
BLUDASH_CALLBACK_RATE_PER_MINUTE = env_int("BLUDASH_CALLBACK_RATE_PER_MINUTE", 600, minimum=1)
# Blu signs no callback, so what one names is capped: new tasks per account in any hour (more
# are refused with 429, nothing stored) and new conclusion codes per account in any 24 hours
# (a call whose code is over it is stored, its code shown unclassified until Blu's own query
# returns a call with it). 0 adds none.
BLUDASH_CALLBACK_NEW_TASKS_PER_HOUR = env_int("BLUDASH_CALLBACK_NEW_TASKS_PER_HOUR", 100, minimum=0)
BLUDASH_CALLBACK_NEW_CODES_PER_DAY = env_int("BLUDASH_CALLBACK_NEW_CODES_PER_DAY", 50, minimum=0)
# The Blu sandbox (calls/blu/sandbox) runs only where enabled: by default only with debug on.
BLUDASH_SANDBOX_ENABLED = env_bool("BLUDASH_SANDBOX_ENABLED", DEBUG)

# --- Celery --------------------------------------------------------------------------------------
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
else:
    # No server needed: kombu's filesystem transport under var/, for the demo and a laptop.
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        var_dir(_broker_dir / _sub)
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
# A killed pool child's message is requeued at once. A whole worker killed leaves it unacked until
# Redis's visibility timeout (an hour); the poll recovers the task sooner, once the dead sync's
# lease and the poll's queued mark run out (tests/system/test_faults.py).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers keep reconnecting however long the broker is down: the default gives up after 100
# attempts (about 46 minutes) and the worker then exits with status 0, which a supervisor that
# restarts only failures would leave down.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A sync needs no broker to finish; cancelling it on a broker blip would only leave its lease to
# run out. (Celery 6 makes this the default.)
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# One queue per kind of work, so that a large export never holds up a sync, nor a sync the
# admins' email: a worker started without -Q consumes every queue declared here, and an operator
# may give a queue workers of its own (`celery -A bludash worker -Q exports`). The poll, the
# nightly check and re-reads stay on Celery's default queue.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES: dict[str, dict[str, str]] = {
    "syncs": {},
    "exports": {},
    "mail": {},
    CELERY_TASK_DEFAULT_QUEUE: {},
}
CELERY_TASK_ROUTES = {
    "calls.tasks.sync_task": {"queue": "syncs"},
    "calls.tasks.email_failure_alert": {"queue": "mail"},
    # Every export job is named calls.tasks.export_...
    "calls.tasks.export_*": {"queue": "exports"},
}
# A CSV of more rows than this, and every XLSX, is built by a job on the exports queue while its
# page shows the progress; a smaller CSV streams at once.
BLUDASH_EXPORT_BACKGROUND_ROWS = env_int("BLUDASH_EXPORT_BACKGROUND_ROWS", 5000, minimum=0)
# A finished export may be downloaded by its requester for this many hours; then the hourly
# clean-up removes its file.
BLUDASH_EXPORT_KEEP_HOURS = env_int("BLUDASH_EXPORT_KEEP_HOURS", 24, minimum=1)
# A job records the rows it has written once per this many rows: its page shows the progress
# without a database write per row.
BLUDASH_EXPORT_PROGRESS_ROWS = 2000
# Export jobs one user may have queued or running at once: each holds an export worker for as
# long as its rows take, so one person's clicks cannot fill the queue that everyone's exports
# wait in. One more is refused with a message, and nothing is queued.
BLUDASH_EXPORT_MAX_PENDING = 3
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
# Retry delays stay far below Redis's visibility timeout (1 hour by default), so a delayed
# message is never redelivered to a second worker while the first still holds it.
BLUDASH_TASK_RETRY_MAX_DELAY = env_int("BLUDASH_TASK_RETRY_MAX_DELAY", 300, minimum=1)
# A task queued by the poll is not queued again for this long, unless its sync finishes first.
BLUDASH_QUEUED_SECONDS = env_int("BLUDASH_QUEUED_SECONDS", 900, minimum=1)
CELERY_BROKER_CONNECTION_TIMEOUT = 3
# /readyz/ waits at most this long for the broker, and as long again for a worker's ping: a load
# balancer's probe times out after a few seconds.
BLUDASH_READY_TIMEOUT = 1.0
# Prometheus sends it as a bearer token to /metrics; unset, /metrics answers 404.
BLUDASH_METRICS_TOKEN = env_str("BLUDASH_METRICS_TOKEN") or ""
if BLUDASH_METRICS_TOKEN and len(BLUDASH_METRICS_TOKEN) < 32:
    raise ImproperlyConfigured(
        "BLUDASH_METRICS_TOKEN must be at least 32 characters (e.g. python -c "
        '"import secrets; print(secrets.token_urlsafe(32))")'
    )
