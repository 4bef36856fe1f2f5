"""Configuration mistakes settings.py cannot see alone, shown as system checks with a hint."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Warning, register
from django.http.request import validate_host


@register(deploy=True)
def check_production_settings(app_configs, **kwargs):
    warnings = []
    public = urlsplit(settings.BLUDASH_PUBLIC_URL)
    if settings.BLUDASH_SANDBOX_ENABLED and not settings.DEBUG:
        warnings.append(
            Warning(
                "The Blu sandbox is enabled with debug off",
                hint="Unset BLUDASH_SANDBOX_ENABLED outside demo and staging.",
                id="bludash.W001",
            )
        )
    if "127.0.0.1" in settings.BLUDASH_PUBLIC_URL or "localhost" in settings.BLUDASH_PUBLIC_URL:
        warnings.append(
            Warning(
                "BLUDASH_PUBLIC_URL points at this machine: Blu cannot deliver callbacks there",
                hint="Set BLUDASH_PUBLIC_URL to the address Blu reaches, e.g. https://bludash.example.com",
                id="bludash.W002",
            )
        )
    if public.scheme != "https" and not settings.DEBUG:
        warnings.append(
            Warning(
                "BLUDASH_PUBLIC_URL is not https: with debug off, sign-in cookies travel over "
                "HTTPS only and plain HTTP is redirected",
                hint="Serve the site over HTTPS; set BLUDASH_PUBLIC_URL to its https:// address.",
                id="bludash.W003",
            )
        )
    if public.hostname and not validate_host(public.hostname, settings.ALLOWED_HOSTS):
        warnings.append(
            Warning(
                f"BLUDASH_PUBLIC_URL's host {public.hostname} is not in DJANGO_ALLOWED_HOSTS: "
                "every request to it, Blu's callbacks included, is refused",
                hint="Add the host to DJANGO_ALLOWED_HOSTS.",
                id="bludash.W004",
            )
        )
    if settings.ADMINS and not settings.EMAIL_HOST:
        warnings.append(
            Warning(
                "BLUDASH_ADMIN_EMAILS is set but DJANGO_EMAIL_HOST is not: alert emails are only "
                "written to the log",
                hint="Set DJANGO_EMAIL_HOST (and its port, user and password) to send them.",
                id="bludash.W005",
            )
        )
    return warnings
