"""The exports storage as a system check: a backend that cannot be imported or refuses its
options stops `manage.py check` (and every command) at once, not the first export hours later."""

from __future__ import annotations

from django.core.checks import Error, register
from django.core.files.storage import InvalidStorageError


@register()
def exports_storage_opens(app_configs, **kwargs) -> list[Error]:
    from calls.models import export_storage

    try:
        export_storage()
    except (ImportError, InvalidStorageError, TypeError, ValueError) as exc:
        # The options may hold keys: only the kind of failure and the class named are shown.
        return [
            Error(
                f"The exports storage cannot be opened ({type(exc).__name__}).",
                hint="Check BLUDASH_EXPORT_STORAGE_BACKEND (an installed storage class's dotted "
                "path, e.g. storages.backends.s3.S3Storage with django-storages installed) and "
                "BLUDASH_EXPORT_STORAGE_OPTIONS (that class's options).",
                id="bludash.E101",
            )
        ]
    return []
