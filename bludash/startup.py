"""What every way of starting bludash does first (manage.py, the WSGI app, the Celery app): read
the settings, so that a bad value ends the process with one line naming its variable instead of
a traceback through Django's and Celery's internals.

Imports no settings itself: it is what reads them.
"""

import sys

from django.core.exceptions import ImproperlyConfigured


def read_settings_or_exit(status: int = 1) -> None:
    """Import the settings now; on a bad or missing value print one line and exit with `status`.

    Only errors raised while the settings are read are caught: an ImproperlyConfigured from an
    app later on is a bug and keeps its traceback.
    """
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 (the first read imports bludash.settings)
    except ImproperlyConfigured as exc:
        # settings.py names the variable in every message; one line however the message is cut.
        print(f"bludash: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(status)
