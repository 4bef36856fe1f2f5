"""Configuration mistakes shown as Django system checks, with stable ids and a hint."""

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def check_fernet_keys(app_configs, **kwargs):
    errors = []
    for position, key in enumerate(settings.BLUDASH_FERNET_KEYS, 1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            errors.append(
                Error(
                    f"BLUDASH_FERNET_KEYS: key {position} is not a Fernet key",
                    hint="Make one with: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'",
                    id="bludash.E001",
                )
            )
    return errors


@register(deploy=True)
def check_sandbox_off_in_production(app_configs, **kwargs):
    if settings.BLUDASH_SANDBOX_ENABLED and not settings.DEBUG:
        return [
            Warning(
                "The Blu sandbox is enabled with debug off",
                hint="Unset BLUDASH_SANDBOX_ENABLED outside demo and staging.",
                id="bludash.W001",
            )
        ]
    return []
