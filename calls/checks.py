"""Configuration mistakes settings.py cannot see alone, shown as system checks with a hint."""

from django.conf import settings
from django.core.checks import Warning, register


@register(deploy=True)
def check_production_settings(app_configs, **kwargs):
    warnings = []
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
    return warnings
