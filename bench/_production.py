"""Production settings for a bench that times pages in its own process: debug off (with debug on
Django keeps the SQL of every query), HTTPS only, static files through the manifest."""

from __future__ import annotations

import base64
import hashlib
import os


def use_production_settings(database_url: str, var_dir: str, *, zone: str, key_seed: bytes) -> None:
    """Sets the environment Django's settings read, before `django.setup()`. Nothing is queued
    (the filesystem broker is enough) and the cache is files under `var_dir`: never a Redis
    database the environment names (CI's tests use theirs after the smoke runs)."""
    fernet_key = base64.urlsafe_b64encode(hashlib.sha256(key_seed).digest()).decode()
    os.environ.update(
        {
            # Static files are collected here, as a deployment collects them: with debug off
            # the pages name files through the manifest.
            "BLUDASH_VAR_DIR": var_dir,
            "DJANGO_SETTINGS_MODULE": "bludash.settings",
            "DATABASE_URL": database_url,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "bench-only-secret-key-for-a-throwaway-database",
            # Debug off needs a Fernet key; this one guards only the bench account's made-up
            # app key.
            "BLUDASH_FERNET_KEYS": fernet_key,
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "BLUDASH_PUBLIC_URL": "https://testserver",
            "BLUDASH_TIME_ZONE": zone,
            "BLUDASH_LOG_LEVEL": "WARNING",
            # One connection for the whole run, as a long-lived worker holds one: a reconnect
            # every 60 s (the default) would land inside some timed request.
            "DATABASE_CONN_MAX_AGE": "86400",
        }
    )
    for name in ("REDIS_URL", "BLUDASH_CACHE_URL"):
        os.environ.pop(name, None)


def set_up_django() -> None:
    """django.setup(), the migrations (roles and conclusion codes come from them) and the static
    files' manifest."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
